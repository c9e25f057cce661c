package tuning

import (
	"slices"
	"testing"
	"time"

	v1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
)

// The catalogue lists every knob the profile declares once, with its
// family, place and unit.
func TestKnobsCatalogue(t *testing.T) {
	spec := fullSpec()
	spec.WorkerThreads = &v1.IntEnvKnob{Env: string(workersEnv), Min: 1, Max: 16}
	spec.Autoscaling.Behavior = &v1.BehaviorTuning{ScaleDownStabilizationWindow: v1.DurationRange{Min: dur(time.Minute), Max: dur(10 * time.Minute)}}
	want := map[Knob]KnobInfo{
		poolMaxEnv:              {Family: FamilyPool, Place: PlaceEnv, Unit: UnitCount, Min: 5, Max: 100},
		poolMinEnv:              {Family: FamilyPool, Place: PlaceEnv, Unit: UnitCount, Min: 1, Max: 20},
		workersEnv:              {Family: FamilyWorkers, Place: PlaceEnv, Unit: UnitCount, Min: 1, Max: 16},
		itemsEnv:                {Family: FamilyCache, Place: PlaceEnv, Unit: UnitCount, Min: 1000, Max: 200000},
		l1TTLEnv:                {Family: FamilyCache, Place: PlaceEnv, Unit: UnitSeconds, Min: 10, Max: 600},
		l2TTLEnv:                {Family: FamilyCache, Place: PlaceEnv, Unit: UnitSeconds, Min: 30, Max: 3600},
		KnobRedisReplicas:       {Family: FamilyRedis, Place: PlaceRedisReplicas, Unit: UnitCount, Min: 1, Max: 5},
		KnobHPAMinReplicas:      {Family: FamilyAutoscaling, Place: PlaceHPA, Unit: UnitCount, Min: 2, Max: 10},
		KnobHPAMaxReplicas:      {Family: FamilyAutoscaling, Place: PlaceHPA, Unit: UnitCount, Min: 4, Max: 30},
		KnobHPATargetCPU:        {Family: FamilyAutoscaling, Place: PlaceHPA, Unit: UnitPercent, Min: 50, Max: 85, Inverse: true},
		KnobHPAScaleDownWindowS: {Family: FamilyAutoscaling, Place: PlaceHPA, Unit: UnitSeconds, Min: 60, Max: 600},
	}
	got := Knobs(spec)
	if len(got) != len(want) {
		t.Fatalf("%d knobs, want %d: %+v", len(got), len(want), got)
	}
	for _, k := range got {
		w, ok := want[k.Knob]
		w.Knob = k.Knob
		if !ok || k != w {
			t.Errorf("%s: %+v, want %+v", k.Knob, k, w)
		}
		if (k.Place == PlaceEnv) != IsEnvFamily(k.Family) {
			t.Errorf("%s: place %v, family %s", k.Knob, k.Place, k.Family)
		}
	}
	if len(Knobs(v1.PerformanceProfileSpec{})) != 0 {
		t.Error("a profile without knobs has knobs")
	}
}

func TestHPAKnobsArePlacedOnTheHPA(t *testing.T) {
	hpa := HPAKnobs()
	if want := []Knob{KnobHPAMinReplicas, KnobHPAMaxReplicas, KnobHPATargetCPU, KnobHPAScaleDownWindowS}; !slices.Equal(hpa, want) {
		t.Errorf("HPAKnobs %v, want %v", hpa, want)
	}
	for _, k := range hpa {
		if PlaceOf(k) != PlaceHPA || FamilyOf(v1.PerformanceProfileSpec{}, k) != FamilyAutoscaling {
			t.Errorf("%s: place %v family %q", k, PlaceOf(k), FamilyOf(v1.PerformanceProfileSpec{}, k))
		}
	}
}

func TestFamilyOf(t *testing.T) {
	spec := fullSpec()
	for k, want := range map[Knob]Family{
		poolMaxEnv: FamilyPool, l2TTLEnv: FamilyCache, KnobRedisReplicas: FamilyRedis,
		KnobHPAScaleDownWindowS: FamilyAutoscaling, "UNDECLARED": "", workersEnv: "",
	} {
		if got := FamilyOf(spec, k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
}

func TestRoute(t *testing.T) {
	r := Route([]Change{
		{Knob: poolMaxEnv, To: 20}, {Knob: KnobHPAMinReplicas, To: 3}, {Knob: KnobRedisReplicas, To: 4},
		{Knob: l1TTLEnv, To: 90}, {Knob: KnobHPATargetCPU, To: 75},
	})
	if len(r.Env) != 2 || r.Env[poolMaxEnv] != 20 || r.Env[l1TTLEnv] != 90 {
		t.Errorf("env %v", r.Env)
	}
	if len(r.HPA) != 2 || r.HPA[KnobHPAMinReplicas] != 3 || r.HPA[KnobHPATargetCPU] != 75 {
		t.Errorf("HPA %v", r.HPA)
	}
	if r.RedisReplicas == nil || *r.RedisReplicas != 4 {
		t.Errorf("Redis %v", r.RedisReplicas)
	}
	if e := Route(nil); e.RedisReplicas != nil || len(e.Env)+len(e.HPA) != 0 {
		t.Errorf("no changes routed to %+v", e)
	}
}

func TestKnobInfoParse(t *testing.T) {
	secs, count := KnobInfo{Unit: UnitSeconds}, KnobInfo{Unit: UnitCount}
	for _, tc := range []struct {
		k    KnobInfo
		v    string
		want int64
		ok   bool
	}{
		{count, "42", 42, true}, {count, "30s", 0, false}, {count, "many", 0, false},
		{secs, "90", 90, true}, {secs, "1m30s", 90, true}, {secs, "1.6s", 2, true}, {secs, "soon", 0, false},
	} {
		if got, ok := tc.k.Parse(tc.v); got != tc.want || ok != tc.ok {
			t.Errorf("%q as %q: %d %v, want %d %v", tc.v, tc.k.Unit, got, ok, tc.want, tc.ok)
		}
	}
}

// HPAKnobDeclared says what Knobs lists of the HPA, for every combination
// of the declared ranges.
func TestHPAKnobDeclaredAgreesWithKnobs(t *testing.T) {
	r := &v1.Int32Range{Min: 1, Max: 10}
	for mask := range 16 {
		a := &v1.Autoscaling{}
		if mask&1 != 0 {
			a.MinReplicas = r
		}
		if mask&2 != 0 {
			a.MaxReplicas = r
		}
		if mask&4 != 0 {
			a.TargetCPUUtilization = r
		}
		if mask&8 != 0 {
			a.Behavior = &v1.BehaviorTuning{ScaleDownStabilizationWindow: v1.DurationRange{
				Min: dur(time.Minute), Max: dur(10 * time.Minute)}}
		}
		listed := map[Knob]bool{}
		for _, k := range Knobs(v1.PerformanceProfileSpec{Autoscaling: a}) {
			listed[k.Knob] = true
		}
		for _, k := range HPAKnobs() {
			if got := HPAKnobDeclared(a, k); got != listed[k] {
				t.Errorf("ranges %04b: HPAKnobDeclared(%s) = %v, Knobs lists it: %v", mask, k, got, listed[k])
			}
		}
	}
}
