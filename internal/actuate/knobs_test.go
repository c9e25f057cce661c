package actuate

import (
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// Every HPA knob of the engine's catalogue has one row of the table, each
// with its own field, path and status slot, and nothing else has a row.
func TestHPATableCoversTheCatalogue(t *testing.T) {
	catalogue := tuning.HPAKnobs()
	if len(hpaKnobs) != len(catalogue) {
		t.Errorf("%d rows for %d HPA knobs", len(hpaKnobs), len(catalogue))
	}
	var s HPASettings
	slots, paths := map[**int32]tuning.Knob{}, map[string]tuning.Knob{}
	for _, k := range catalogue {
		h, ok := hpaKnobOf(k)
		if !ok {
			t.Errorf("%s has no row", k)
			continue
		}
		if o, dup := slots[h.slot(&s)]; dup {
			t.Errorf("%s and %s share a field", k, o)
		}
		if o, dup := paths[h.path.String()]; dup {
			t.Errorf("%s and %s share a path", k, o)
		}
		slots[h.slot(&s)], paths[h.path.String()] = k, k
	}
}

// A value read from the HPA, reported in status.current and read back from
// it is the same value, for every knob of the table.
func TestHPAValuesRoundTripThroughStatus(t *testing.T) {
	n := int32(7)
	for _, h := range hpaKnobs {
		v := &tuningv1alpha1.HPAValues{}
		h.report(v, &n)
		got := KnownValues(&tuningv1alpha1.KnobValues{HPA: v})[string(h.knob)]
		if got != "7" {
			t.Errorf("%s: reported 7, read back %q", h.knob, got)
		}
	}
	var hpa autoscalingv2.HorizontalPodAutoscaler
	hpa.Spec.MaxReplicas = 5
	if got := SettingsOf(&hpa).Get(tuning.KnobHPAMaxReplicas); got == nil || *got != 5 {
		t.Errorf("maxReplicas read %v, want 5", got)
	}
}
