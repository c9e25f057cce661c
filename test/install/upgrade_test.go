package install_test

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

// TestHelmUpgradesKeepValuesAndTakeNewDefaults: every `helm upgrade` the
// docs and the chart tell to run carries --reset-then-reuse-values, which
// keeps the values set before and gives values new in the chart their
// defaults; --reuse-values leaves those unset, and neither flag resets what
// was set at install.
func TestHelmUpgradesKeepValuesAndTakeNewDefaults(t *testing.T) {
	g := NewWithT(t)
	upgrades := 0
	for _, rel := range []string{"docs/install.md", "dist/chart/README.md", "README.md"} {
		for _, block := range shBlocks(t, rel) {
			for _, c := range shellCommands(block) {
				if !strings.Contains(c, "helm upgrade") {
					continue
				}
				upgrades++
				g.Expect(c).To(ContainSubstring("--reset-then-reuse-values"), "%s: %s", rel, c)
				g.Expect(strings.Fields(c)).NotTo(ContainElement("--reuse-values"), "%s: %s", rel, c)
			}
		}
	}
	g.Expect(upgrades).To(BeNumerically(">=", 2), "the docs no longer show how to upgrade")
	notes := string(readFile(t, "dist/chart/templates/NOTES.txt"))
	g.Expect(notes).NotTo(ContainSubstring("--reuse-values"))
}
