package prom

import (
	"regexp"
	"slices"
	"testing"
	"time"
)

// TestKnownPartsAreThePartsTheQueriesTag: the extractors keep a series only
// when its part is in knownParts, so a part tagged in a query but missing
// there would be dropped without a word, and a part listed but never tagged
// is dead. The queries of a target of each preset that asks every family decide.
func TestKnownPartsAreThePartsTheQueriesTag(t *testing.T) {
	o, _, _ := testReader(t, Options{})
	var targets []Target
	for _, p := range Presets() {
		tg := orders(string(p), "orders")
		tg.Preset = p
		tg.Window = 12 * time.Minute // three saturation windows: the noise branch too
		targets = append(targets, tg)
	}
	groups, _ := o.plan(slices.Values(targets))
	tag := regexp.MustCompile(`"` + partLabel + `", "([a-z_0-9]+)", "` + partLabel + `"`)
	var tagged []string
	for _, g := range groups {
		for _, j := range g.jobs {
			for _, m := range tag.FindAllStringSubmatch(j.query, -1) {
				if !slices.Contains(tagged, m[1]) {
					tagged = append(tagged, m[1])
				}
			}
		}
	}
	for _, p := range tagged {
		if _, ok := knownParts[p]; !ok {
			t.Errorf("the queries tag part %q, which knownParts lacks: its series would be dropped", p)
		}
	}
	for p := range knownParts {
		if !slices.Contains(tagged, p) {
			t.Errorf("knownParts lists %q, which no query tags", p)
		}
	}
}
