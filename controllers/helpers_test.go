package controllers

// Table tests of the reconciler's pure helpers (issue 17 §5): no API server.

import (
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	autoscalingv2ac "k8s.io/client-go/applyconfigurations/autoscaling/v2"
	"k8s.io/utils/ptr"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/actuate"
	"github.com/navius-dev/navius-tuner/internal/signals"
	"github.com/navius-dev/navius-tuner/internal/status"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

var helperT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Every HPA knob of the catalogue has its field, each a different one.
func TestHPAFieldsCoverCatalogue(t *testing.T) {
	if len(hpaFields) != len(tuning.HPAKnobs()) {
		t.Errorf("%d HPA fields for %d HPA knobs", len(hpaFields), len(tuning.HPAKnobs()))
	}
	var s actuate.HPASettings
	seen := map[**int32]tuning.Knob{}
	for _, k := range tuning.HPAKnobs() {
		f, ok := hpaFields[k]
		if !ok {
			t.Errorf("%s has no field", k)
			continue
		}
		if o, dup := seen[f.slot(&s)]; dup {
			t.Errorf("%s and %s share a field", k, o)
		}
		seen[f.slot(&s)] = k
	}
}

func TestKnobFamily(t *testing.T) {
	spec := poolProfile("ns", tuningv1alpha1.ModeAuto).Spec
	spec.Cache = &tuningv1alpha1.Cache{Memory: &tuningv1alpha1.MemoryCache{
		TTL: &tuningv1alpha1.DurationEnvKnob{Env: "L1_TTL", Min: metav1.Duration{Duration: time.Second}, Max: metav1.Duration{Duration: time.Hour}}}}
	spec.WorkerThreads = &tuningv1alpha1.IntEnvKnob{Env: "WORKERS", Min: 1, Max: 8}
	for k, want := range map[tuning.Knob]string{
		poolEnv: "pool", "L1_TTL": "cache", "WORKERS": "workers", tuning.KnobRedisReplicas: "redis",
		tuning.KnobHPATargetCPU: "autoscaling", "LOG_LEVEL": "",
	} {
		if got := knobFamily(spec, k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
}

func slis(p99 time.Duration, at time.Time, missing ...string) *tuningv1alpha1.SLIs {
	return &tuningv1alpha1.SLIs{P99: &metav1.Duration{Duration: p99}, ObservedAt: ptr.To(metav1.NewTime(at)), Missing: missing}
}

func TestStatusChanged(t *testing.T) {
	base := tuningv1alpha1.PerformanceProfileStatus{ObservedGeneration: 1, SLIs: slis(80*time.Millisecond, helperT0)}
	with := func(f func(*tuningv1alpha1.PerformanceProfileStatus)) tuningv1alpha1.PerformanceProfileStatus {
		st := *base.DeepCopy()
		f(&st)
		return st
	}
	soon, later := helperT0.Add(time.Minute), helperT0.Add(slisRefresh)
	for _, tc := range []struct {
		name string
		cur  tuningv1alpha1.PerformanceProfileStatus
		now  time.Time
		want bool
	}{
		{"the same", base, soon, false},
		{"SLIs read again, same values", with(func(s *tuningv1alpha1.PerformanceProfileStatus) { s.SLIs = slis(80*time.Millisecond, soon) }), soon, false},
		{"SLIs moved, within the refresh", with(func(s *tuningv1alpha1.PerformanceProfileStatus) { s.SLIs = slis(85*time.Millisecond, soon) }), soon, false},
		{"SLIs moved, refresh due", with(func(s *tuningv1alpha1.PerformanceProfileStatus) { s.SLIs = slis(85*time.Millisecond, later) }), later, true},
		{"a signal went missing", with(func(s *tuningv1alpha1.PerformanceProfileStatus) {
			s.SLIs = slis(80*time.Millisecond, soon, "p95: no samples")
		}), soon, true},
		{"SLIs moved with another change", with(func(s *tuningv1alpha1.PerformanceProfileStatus) {
			s.SLIs, s.ObservedGeneration = slis(85*time.Millisecond, soon), 2
		}), soon, true},
		{"first SLIs", with(func(s *tuningv1alpha1.PerformanceProfileStatus) { s.SLIs = nil }), soon, true},
		{"a condition changed", with(func(s *tuningv1alpha1.PerformanceProfileStatus) {
			s.Conditions = []metav1.Condition{{Type: tuningv1alpha1.ConditionReady, Status: metav1.ConditionTrue}}
		}), soon, true},
	} {
		old := base
		if tc.name == "first SLIs" {
			old, tc.cur = tc.cur, base
		}
		if got := statusChanged(old, tc.cur, tc.now); got != tc.want {
			t.Errorf("%s: statusChanged = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// managed is a managedFields entry of manager owning the env value of name in container app.
func managedEnv(manager string, op metav1.ManagedFieldsOperationType, at time.Time, name string) metav1.ManagedFieldsEntry {
	raw := fmt.Sprintf(`{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{"f:env":{"k:{\"name\":\"%s\"}":{"f:value":{}}}}}}}}}`, name)
	return metav1.ManagedFieldsEntry{Manager: manager, Operation: op, Time: ptr.To(metav1.NewTime(at)),
		APIVersion: "apps/v1", FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(raw)}
}

// envCluster is the cluster state of a target whose pool env is live, owned by owners.
func envCluster(t *testing.T, live string, owners ...metav1.ManagedFieldsEntry) *clusterState {
	t.Helper()
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: targetName, ManagedFields: owners}}
	d.Spec.Template.Spec.Containers = []corev1.Container{{Name: "app", Env: []corev1.EnvVar{poolVar(live)}}}
	own, err := actuate.OwnershipOf(d)
	if err != nil {
		t.Fatal(err)
	}
	return &clusterState{target: d, container: &d.Spec.Template.Spec.Containers[0], targetOwn: own,
		env: map[string]string{poolEnv: live}, state: tuning.State{Values: tuning.Values{}, Blocked: map[tuning.Knob]string{}}}
}

func TestDetectConflicts(t *testing.T) {
	gitopsAt := helperT0.Add(time.Hour)
	gitops := managedEnv("argocd-controller", metav1.ManagedFieldsOperationApply, gitopsAt, poolEnv)
	ours := managedEnv(tuningv1alpha1.FieldManager, metav1.ManagedFieldsOperationApply, helperT0, poolEnv)
	applied := func(to string) tuningv1alpha1.PerformanceProfileStatus {
		var st tuningv1alpha1.PerformanceProfileStatus
		status.Record(&st, tuningv1alpha1.Decision{Time: metav1.NewTime(helperT0), Family: "pool", Outcome: tuningv1alpha1.OutcomeKept,
			Changes: []tuningv1alpha1.Change{{Knob: poolEnv, From: "10", To: to}}})
		return st
	}
	for _, tc := range []struct {
		name string
		st   tuningv1alpha1.PerformanceProfileStatus
		ack  time.Time
		cs   *clusterState
		want []string // knob: manager applied→live
	}{
		{"another manager changed what navius-tuner applied", applied("20"), time.Time{}, envCluster(t, "30", gitops),
			[]string{poolEnv + ": argocd-controller 20→30"}},
		{"the live value is what navius-tuner applied", applied("30"), time.Time{}, envCluster(t, "30", gitops), nil},
		{"navius-tuner owns the field again", applied("20"), time.Time{}, envCluster(t, "30", ours), nil},
		{"acknowledged after the other manager's write", applied("20"), gitopsAt.Add(time.Minute), envCluster(t, "30", gitops), nil},
		{"acknowledged before it", applied("20"), gitopsAt.Add(-time.Minute), envCluster(t, "30", gitops),
			[]string{poolEnv + ": argocd-controller 20→30"}},
		{"navius-tuner never applied it", tuningv1alpha1.PerformanceProfileStatus{}, time.Time{}, envCluster(t, "30", gitops), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := poolProfile("ns", tuningv1alpha1.ModeAuto)
			p.Status = tc.st
			if !tc.ack.IsZero() {
				p.Annotations = map[string]string{tuningv1alpha1.ReconcileRequestedAnnotation: tc.ack.Format(time.RFC3339)}
			}
			var got []string
			for _, c := range detectConflicts(p, tc.cs) {
				got = append(got, fmt.Sprintf("%s: %s %s→%s", c.Knob, c.Manager, c.Applied, c.Live))
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("conflicts %q, want %q", got, tc.want)
			}
		})
	}
}

// hpaCluster is the cluster state of an HPA with min 2, max 10, CPU 70 %,
// whose minReplicas navius-tuner owns (unless managed: then it owns all).
func hpaCluster(t *testing.T, managed, exists bool) *clusterState {
	t.Helper()
	target := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: targetName}}
	cs := &clusterState{target: target, hpaName: targetName, hpaManaged: managed}
	if !exists {
		return cs
	}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: targetName, ManagedFields: []metav1.ManagedFieldsEntry{{
		Manager: tuningv1alpha1.FieldManager, Operation: metav1.ManagedFieldsOperationApply, APIVersion: "autoscaling/v2", FieldsType: "FieldsV1",
		FieldsV1: metav1.NewFieldsV1(`{"f:spec":{"f:minReplicas":{}}}`)}}},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: ptr.To[int32](2), MaxReplicas: 10,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](70)}}}}}}
	own, err := actuate.OwnershipOf(hpa)
	if err != nil {
		t.Fatal(err)
	}
	cs.hpa, cs.hpaOwn = hpa, own
	return cs
}

func TestHPAWrite(t *testing.T) {
	p := poolProfile("ns", tuningv1alpha1.ModeAuto)
	p.UID = "uid"
	settings := func(min, max, cpu *int32) actuate.HPASettings {
		return actuate.HPASettings{MinReplicas: min, MaxReplicas: max, TargetCPUUtilization: cpu}
	}
	i32 := ptr.To[int32]
	for _, tc := range []struct {
		name            string
		cs              *clusterState
		changed         actuate.HPASettings
		wantNil         bool
		wantMin         *int32
		wantMax         *int32
		wantMetrics     bool
		wantScaleTarget bool
	}{
		{"managed, not there yet: created whole", hpaCluster(t, true, false), settings(i32(3), i32(6), i32(70)),
			false, i32(3), i32(6), true, true},
		{"managed, no change", hpaCluster(t, true, true), settings(i32(2), nil, nil), true, nil, nil, false, false},
		{"managed, a change: the whole HPA again", hpaCluster(t, true, true), settings(nil, i32(12), nil),
			false, i32(2), i32(12), true, true},
		{"not managed, no change", hpaCluster(t, false, true), settings(nil, i32(10), nil), true, nil, nil, false, false},
		{"not managed: the change plus the fields navius-tuner owns", hpaCluster(t, false, true), settings(nil, i32(12), nil),
			false, i32(2), i32(12), false, false},
		{"not managed: a field it owns", hpaCluster(t, false, true), settings(i32(4), nil, nil),
			false, i32(4), nil, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := hpaWrite(p, tc.cs, tc.changed)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantNil {
				if w != nil {
					t.Errorf("wrote %+v, want no write", w)
				}
				return
			}
			ac, ok := w.(*autoscalingv2ac.HorizontalPodAutoscalerApplyConfiguration)
			if !ok || ac.Spec == nil {
				t.Fatalf("write %T %+v", w, w)
			}
			s := ac.Spec
			if fmt.Sprint(deref(s.MinReplicas)) != fmt.Sprint(deref(tc.wantMin)) || fmt.Sprint(deref(s.MaxReplicas)) != fmt.Sprint(deref(tc.wantMax)) {
				t.Errorf("min %v max %v, want %v %v", deref(s.MinReplicas), deref(s.MaxReplicas), deref(tc.wantMin), deref(tc.wantMax))
			}
			if (len(s.Metrics) > 0) != tc.wantMetrics || (s.ScaleTargetRef != nil) != tc.wantScaleTarget {
				t.Errorf("metrics %d scaleTargetRef %v, want metrics %v scaleTargetRef %v", len(s.Metrics), s.ScaleTargetRef != nil, tc.wantMetrics, tc.wantScaleTarget)
			}
		})
	}
}

func deref(p *int32) any {
	if p == nil {
		return nil
	}
	return *p
}

// scopeWith is a reconcile's scope of the pool profile at helperT0.
func scopeWith(mode tuningv1alpha1.Mode, f func(*scope)) *scope {
	p := poolProfile("ns", mode)
	p.Generation = 3
	s := &scope{profile: p, original: p.DeepCopy(), settings: tuning.SettingsOf(p.Spec), now: helperT0}
	f(s)
	return s
}

func observed(values map[signals.Signal]float64) signals.Observation {
	o := signals.NewObservation(helperT0)
	for k, v := range values {
		o.Set(k, v, helperT0)
	}
	return o
}

// The facts and the status summarize assembles from a scope.
func TestSummarize(t *testing.T) {
	raise := tuning.Change{Knob: poolEnv, From: 10, HasFrom: true, To: 14}
	breach := tuning.Plan{SLOKnown: true, Reason: "p99 over", Family: tuning.FamilyPool, Changes: []tuning.Change{raise}}
	for _, tc := range []struct {
		name  string
		s     *scope
		check func(t *testing.T, f status.Facts, st tuningv1alpha1.PerformanceProfileStatus)
	}{
		{"stopped before observing", scopeWith(tuningv1alpha1.ModeAuto, func(s *scope) {
			s.block = &status.Blocker{Reason: tuningv1alpha1.ReasonTargetNotFound, Message: "no Deployment"}
		}), func(t *testing.T, f status.Facts, st tuningv1alpha1.PerformanceProfileStatus) {
			if f.Observed || f.Evaluated || st.SLIs != nil || st.Current != nil || st.Recommendation != nil {
				t.Errorf("facts %+v status %+v", f, st)
			}
			ready := findCond(st, tuningv1alpha1.ConditionReady)
			if ready.Status != metav1.ConditionFalse || ready.Reason != tuningv1alpha1.ReasonTargetNotFound {
				t.Errorf("Ready %+v", ready)
			}
		}},
		{"observed, stopped before deciding: missing from the engine's rule", scopeWith(tuningv1alpha1.ModeAuto, func(s *scope) {
			s.observed, s.obs = true, observed(nil)
			s.block = &status.Blocker{Reason: tuningv1alpha1.ReasonTargetNotFound, Message: "no Deployment"}
		}), func(t *testing.T, f status.Facts, st tuningv1alpha1.PerformanceProfileStatus) {
			if !f.Observed || f.Evaluated || len(f.SLOMissing) == 0 || st.SLIs == nil {
				t.Errorf("facts %+v", f)
			}
		}},
		{"decided in Auto: breach, conflict, canary note", scopeWith(tuningv1alpha1.ModeAuto, func(s *scope) {
			s.observed, s.obs = true, observed(steady())
			s.plan = &breach
			cs := envCluster(t, "10")
			cs.state.Values[poolEnv] = 10
			cs.state.RolloutInProgress = true
			cs.conflicts = []status.Conflict{{Knob: "L1_TTL", Manager: "argocd-controller"}}
			cs.delivery = "Flagger"
			s.cluster = cs
		}), func(t *testing.T, f status.Facts, st tuningv1alpha1.PerformanceProfileStatus) {
			if !f.Evaluated || !f.SLOKnown || f.SLOMet || f.SLOMessage != "p99 over" || !f.RolloutInProgress || len(f.Conflicts) != 1 || len(f.Notes) != 1 {
				t.Errorf("facts %+v", f)
			}
			if st.ObservedGeneration != 3 || st.Current == nil || st.Current.Env[poolEnv] != "10" || st.Recommendation != nil {
				t.Errorf("status %+v", st)
			}
			if c := findCond(st, tuningv1alpha1.ConditionStalled); c.Reason != tuningv1alpha1.ReasonFieldConflict {
				t.Errorf("Stalled %+v", c)
			}
		}},
		{"decided in Recommend: the plan is published", scopeWith(tuningv1alpha1.ModeRecommend, func(s *scope) {
			s.observed, s.obs = true, observed(steady())
			s.plan = &breach
			s.recommended = breach.Changes
			s.cluster = envCluster(t, "10")
		}), func(t *testing.T, f status.Facts, st tuningv1alpha1.PerformanceProfileStatus) {
			r := st.Recommendation
			if r == nil || len(r.Changes) != 1 || r.Changes[0] != raise.API() || !r.Time.Time.Equal(helperT0) {
				t.Errorf("recommendation %+v", r)
			}
			if c := findCond(st, tuningv1alpha1.ConditionReady); c.Reason != tuningv1alpha1.ReasonRecommending {
				t.Errorf("Ready %+v", c)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := summarize(tc.s, nil)
			tc.check(t, f, tc.s.profile.Status)
		})
	}
}

// A recommendation whose content did not change keeps its time.
func TestRecommendationKeepsItsTime(t *testing.T) {
	plan := tuning.Plan{Reason: "hold"}
	s := scopeWith(tuningv1alpha1.ModeRecommend, func(s *scope) { s.plan = &plan })
	prev := &tuningv1alpha1.Recommendation{Time: metav1.NewTime(helperT0.Add(-time.Hour)), Reason: "hold"}
	if got := recommendation(s, prev); !got.Time.Equal(&prev.Time) {
		t.Errorf("time %v, want %v", got.Time, prev.Time)
	}
	plan.Reason = "other"
	if got := recommendation(s, prev); !got.Time.Time.Equal(helperT0) {
		t.Errorf("time %v, want now", got.Time)
	}
}

func findCond(st tuningv1alpha1.PerformanceProfileStatus, typ string) metav1.Condition {
	for _, c := range st.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return metav1.Condition{}
}
