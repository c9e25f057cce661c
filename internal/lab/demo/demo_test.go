package demo

import (
	"strings"
	"testing"
	"time"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		err  string
	}{
		{"defaults filled", Options{Scenario: "step", Duration: time.Minute, Speed: 5}, ""},
		{"speed out of range", Options{Scenario: "step", Duration: time.Minute, Speed: 60}, "speed must be in (0, 50]"},
		{"too short", Options{Scenario: "step", Duration: 30 * time.Second, Speed: 5}, "duration must be at least 1m"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := tc.o.Validate()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(o.PNG, "demo-step.png") || o.Refresh < 200*time.Millisecond {
				t.Fatalf("defaults not filled: %+v", o)
			}
		})
	}
}

// TestTrace: every named scenario gives a load between 100 and 500 req/s,
// and an unknown one is refused with the list of names.
func TestTrace(t *testing.T) {
	for _, name := range []string{"case-study", "step", "diurnal", "spike", "constant"} {
		tr, err := Trace(name, 2400, 1)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, at := range []float64{0, 600, 1200, 2399} {
			if r := tr.RPS(at); r < 80 || r > 600 {
				t.Errorf("%s at %v s: %v req/s", name, at, r)
			}
		}
	}
	if _, err := Trace("nope", 2400, 1); err == nil || !strings.Contains(err.Error(), "case-study, step") {
		t.Fatalf("unknown scenario: %v", err)
	}
}

func TestMissingEvidence(t *testing.T) {
	base := &tuningv1alpha1.SLIs{}
	pool := []tuningv1alpha1.Change{{Knob: "DB_POOL_MAX_CONNECTIONS", From: "2", To: "6"}}
	for _, c := range []struct {
		name string
		d    tuningv1alpha1.Decision
		want string
	}{
		{"a change with a baseline and a prediction in words", tuningv1alpha1.Decision{Changes: pool, Baseline: base, Predicted: "pool wait 5s -> 1ms"}, ""},
		{"a change with a model's prediction", tuningv1alpha1.Decision{Changes: pool, Baseline: base, Prediction: &tuningv1alpha1.Prediction{}}, ""},
		{"a change without a prediction", tuningv1alpha1.Decision{Changes: pool, Baseline: base}, "no prediction"},
		{"a change with neither", tuningv1alpha1.Decision{Changes: pool}, "no baseline, no prediction"},
		{"a decision that changed nothing needs none", tuningv1alpha1.Decision{}, ""},
	} {
		if got := missingEvidence(c.d); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
