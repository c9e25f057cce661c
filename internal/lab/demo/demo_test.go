package demo

import (
	"strings"
	"testing"
	"time"
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
