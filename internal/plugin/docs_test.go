package plugin

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// docs/kubectl-plugin.md documents every verb under its own heading, every flag of
// each verb, the columns of status as it prints them, and the exit codes.
func TestDocsNameEveryVerbAndFlag(t *testing.T) {
	g := NewWithT(t)
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "kubectl-plugin.md"))
	g.Expect(err).NotTo(HaveOccurred())
	doc := string(b)
	root := NewCommand(genericiooptions.NewTestIOStreamsDiscard())
	for _, cmd := range root.Commands() {
		if cmd.Hidden || cmd.Name() == "help" || cmd.Name() == "completion" {
			continue
		}
		g.Expect(doc).To(MatchRegexp("(?m)^### .*`kubectl navius "+regexp.QuoteMeta(cmd.Name())+"[ `]"), "docs/kubectl-plugin.md has no heading for %s", cmd.Name())
		cmd.LocalFlags().VisitAll(func(f *pflag.Flag) {
			g.Expect(doc).To(ContainSubstring("`--"+f.Name+"`"), "docs/kubectl-plugin.md does not document %s --%s", cmd.Name(), f.Name)
		})
	}
	g.Expect(doc).To(MatchRegexp(`(?m)^`+strings.Join(statusColumns, `\s+`)+`$`), "the status example's header is not the plugin's")
	g.Expect(doc).To(MatchRegexp("(?m)^\\| 3 \\| `check`"), "the exit code of check is not documented")
	g.Expect(ExitNotTunable).To(Equal(3))
}
