package controllers

import (
	"encoding/json"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
)

// The status patch is the one controller-runtime's MergeFrom (with its
// optimistic lock) computes between the two profiles, whatever moved in the
// status: a value changed, a field added, a field removed (null), a list
// replaced.
func TestStatusPatchIsMergeFromsPatch(t *testing.T) {
	at := metav1.NewTime(time.Date(2026, 12, 7, 14, 41, 10, 0, time.UTC))
	base := func() *tuningv1alpha1.PerformanceProfile {
		p := poolProfile("shop", tuningv1alpha1.ModeAuto)
		p.ResourceVersion = "41"
		p.Status = tuningv1alpha1.PerformanceProfileStatus{ObservedGeneration: 1, PeakConnections: ptr.To[int64](40),
			Conditions:     []metav1.Condition{cond(tuningv1alpha1.ConditionReady, metav1.ConditionTrue, tuningv1alpha1.ReasonSucceeded)},
			Current:        &tuningv1alpha1.KnobValues{Env: map[string]string{poolEnv: "10"}},
			Recommendation: &tuningv1alpha1.Recommendation{},
			SLIs:           &tuningv1alpha1.SLIs{ObservedAt: &at, Missing: []string{"redisCPU: NotConfigured"}}}
		return p
	}
	for _, tc := range []struct {
		name   string
		change func(*tuningv1alpha1.PerformanceProfile)
	}{
		{"nothing", func(*tuningv1alpha1.PerformanceProfile) {}},
		{"a value", func(p *tuningv1alpha1.PerformanceProfile) { p.Status.Current.Env[poolEnv] = "15" }},
		{"a field added", func(p *tuningv1alpha1.PerformanceProfile) {
			p.Status.LastAdjustment = &tuningv1alpha1.Decision{Time: at, Family: "pool", Outcome: tuningv1alpha1.OutcomePending}
		}},
		{"fields removed", func(p *tuningv1alpha1.PerformanceProfile) {
			p.Status.Recommendation, p.Status.PeakConnections = nil, nil
		}},
		{"a list replaced", func(p *tuningv1alpha1.PerformanceProfile) {
			p.Status.Conditions = append(p.Status.Conditions, cond(tuningv1alpha1.ConditionSLOMet, metav1.ConditionFalse, "SLOBreached"))
			p.Status.SLIs.Missing = nil
		}},
		{"the status removed", func(p *tuningv1alpha1.PerformanceProfile) { p.Status = tuningv1alpha1.PerformanceProfileStatus{} }},
	} {
		original, p := base(), base()
		tc.change(p)
		want, err := client.MergeFromWithOptions(original, client.MergeFromWithOptimisticLock{}).Data(p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := statusMergePatch(original, p)
		if err != nil {
			t.Fatal(err)
		}
		var w, g any
		if err := json.Unmarshal(want, &w); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatal(err)
		}
		if ws, gs := mustJSON(t, w), mustJSON(t, g); ws != gs {
			t.Errorf("%s: patch %s, want MergeFrom's %s", tc.name, gs, ws)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v) // maps are encoded with sorted keys
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A status patch stores the status, gives the profile the resourceVersion
// the API server gave it, and is refused when made from a stale copy.
func TestStatusPatchStoresTheStatusAndTakesTheNewResourceVersion(t *testing.T) {
	h := newHarness(t)
	g := h.g
	h.create(poolProfile(h.ns, tuningv1alpha1.ModeAuto))
	original := &tuningv1alpha1.PerformanceProfile{}
	g.Expect(env.Client.Get(h.ctx, h.key("orders"), original)).To(Succeed())

	p := original.DeepCopy()
	p.Status.Current = &tuningv1alpha1.KnobValues{Env: map[string]string{poolEnv: "15"}}
	p.Status.Conditions = []metav1.Condition{cond(tuningv1alpha1.ConditionReady, metav1.ConditionTrue, tuningv1alpha1.ReasonSucceeded)}
	g.Expect(patchStatus(h.ctx, env.Client, original, p)).To(Succeed())
	stored := &tuningv1alpha1.PerformanceProfile{}
	g.Expect(env.Client.Get(h.ctx, h.key("orders"), stored)).To(Succeed())
	g.Expect(p.ResourceVersion).To(Equal(stored.ResourceVersion))
	g.Expect(p.ResourceVersion).NotTo(Equal(original.ResourceVersion))
	g.Expect(stored.Status.Current.Env).To(Equal(map[string]string{poolEnv: "15"}))
	g.Expect(stored.Status.Conditions).To(HaveLen(1))
	g.Expect(stored.Spec).To(Equal(original.Spec), "a status patch leaves the spec")

	// From the copy read before that patch: refused, and nothing is stored.
	stale := original.DeepCopy()
	stale.Status.Current = &tuningv1alpha1.KnobValues{Env: map[string]string{poolEnv: "20"}}
	err := patchStatus(h.ctx, env.Client, original, stale)
	g.Expect(apierrors.IsConflict(err)).To(BeTrue(), "a patch from a stale copy: %v", err)
	g.Expect(stale.ResourceVersion).To(Equal(original.ResourceVersion))
	g.Expect(env.Client.Get(h.ctx, h.key("orders"), stored)).To(Succeed())
	g.Expect(stored.Status.Current.Env).To(Equal(map[string]string{poolEnv: "15"}))

	// From the patched profile: a removal reaches the API server.
	next := p.DeepCopy()
	next.Status.Current = nil
	g.Expect(patchStatus(h.ctx, env.Client, p, next)).To(Succeed())
	g.Expect(env.Client.Get(h.ctx, h.key("orders"), stored)).To(Succeed())
	g.Expect(stored.Status.Current).To(BeNil())
	g.Expect(next.ResourceVersion).To(Equal(stored.ResourceVersion))
}
