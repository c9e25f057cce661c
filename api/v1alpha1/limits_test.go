package v1alpha1

import (
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"sigs.k8s.io/yaml"
)

// The named limits are the values of the markers beside their fields: read
// back from the generated CRD schema, so neither can move alone.
func TestLimitsMatchTheCRDSchema(t *testing.T) {
	raw, err := os.ReadFile("../../config/crd/bases/tuning.navius.io_performanceprofiles.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var crd map[string]any
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		t.Fatal(err)
	}
	versions := dig(t, crd, "spec.versions").([]any)
	status := dig(t, versions[0].(map[string]any), "schema.openAPIV3Schema.properties.status.properties").(map[string]any)
	metrics := dig(t, versions[0].(map[string]any), "schema.openAPIV3Schema.properties.spec.properties.metrics.properties").(map[string]any)
	if got, _ := dig(t, metrics, "latencyHistogram.properties.name.maxLength").(float64); int(got) != MaxMetricNameLength {
		t.Errorf("spec.metrics.latencyHistogram.name.maxLength is %v in the CRD, the named limit is %d", got, MaxMetricNameLength)
	}
	queries := dig(t, metrics, "queries.properties").(map[string]any)
	for name := range queries {
		if got, _ := dig(t, queries, name+".maxLength").(float64); int(got) != MaxQueryLength {
			t.Errorf("spec.metrics.queries.%s.maxLength is %v in the CRD, the named limit is %d", name, got, MaxQueryLength)
		}
	}
	decision := "history.items.properties."
	for _, tc := range []struct {
		path string
		want int
	}{
		{"history.maxItems", MaxHistoryItems},
		{decision + "reason.maxLength", MaxReasonLength},
		{decision + "predicted.maxLength", MaxNoteLength},
		{decision + "observed.maxLength", MaxNoteLength},
		{"lastAdjustment.properties.reason.maxLength", MaxReasonLength},
		{"lastAdjustment.properties.observed.maxLength", MaxNoteLength},
		{"recommendation.properties.reason.maxLength", MaxReasonLength},
		{"slis.properties.missing.maxItems", MaxMissingItems},
		{"slis.properties.missing.items.maxLength", MaxNoteLength},
	} {
		got, ok := dig(t, status, tc.path).(float64)
		if !ok || int(got) != tc.want {
			t.Errorf("status.%s is %v in the CRD, the named limit is %d", tc.path, dig(t, status, tc.path), tc.want)
		}
	}
}

// dig follows a dotted path of map keys.
func dig(t *testing.T, m map[string]any, path string) any {
	t.Helper()
	var cur any = m
	for _, k := range strings.Split(path, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			t.Fatalf("%s: %q is not an object", path, k)
		}
		cur = mm[k]
	}
	return cur
}

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"a longer text", 10, "a longe…"},
		{"POOL 10→20 and more", 10, "POOL 10…"},
		{"ab→cdefghijk", 7, "ab…"}, // never cuts the arrow in half
	} {
		got := Truncate(tc.in, tc.n)
		if got != tc.want || len(got) > tc.n || !utf8.ValidString(got) {
			t.Errorf("Truncate(%q, %d) = %q, want %q (at most %d bytes, valid UTF-8)", tc.in, tc.n, got, tc.want, tc.n)
		}
	}
}
