package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// Record, then act: when the apply happens, the decision is already in the
// profile's status on the API server, as Pending.
func TestDecisionIsRecordedBeforeTheWrite(t *testing.T) {
	h := newHarness(t)
	g := h.g
	h.deployment(targetName, poolVar("10"))
	h.create(poolProfile(h.ns, tuningv1alpha1.ModeAuto))
	h.observer.set(starvedPool(), false)
	var atApply []tuningv1alpha1.Decision
	h.onApply = func() error {
		p := &tuningv1alpha1.PerformanceProfile{}
		g.Expect(env.Client.Get(h.ctx, h.key("orders"), p)).To(Succeed())
		atApply = p.Status.History
		return nil
	}

	_, p := h.period("orders")
	g.Expect(h.workloadWrites.Load()).To(Equal(int64(1)))
	g.Expect(atApply).To(HaveLen(1), "the decision is recorded before the Deployment is written")
	g.Expect(atApply[0].Outcome).To(Equal(tuningv1alpha1.OutcomePending))
	g.Expect(atApply[0].Changes).To(ContainElement(tuningv1alpha1.Change{Knob: poolEnv, From: "10", To: h.envValue(targetName, poolEnv)}))
	g.Expect(p.Status.History).To(HaveLen(1), "one decision, recorded once")
}

// A decision whose Pending record fails the optimistic lock (the profile
// changed between the read and the patch) is not applied.
func TestPendingRecordThatFailsItsLockWritesNothing(t *testing.T) {
	h := newHarness(t)
	g := h.g
	h.deployment(targetName, poolVar("10"))
	h.create(poolProfile(h.ns, tuningv1alpha1.ModeAuto))
	h.observer.set(starvedPool(), false)
	// Someone changes the profile right before the status patch: the patch
	// carries the resourceVersion the reconcile read, which is now old.
	h.statusPatch = func() error {
		h.statusPatch = nil
		p := &tuningv1alpha1.PerformanceProfile{}
		g.Expect(env.Client.Get(h.ctx, h.key("orders"), p)).To(Succeed())
		p.Labels = map[string]string{"team": "orders"}
		g.Expect(env.Client.Update(h.ctx, p)).To(Succeed())
		return nil
	}

	res, p := h.period("orders")
	g.Expect(res.RequeueAfter).To(Equal(staleRetry))
	g.Expect(h.workloadWrites.Load()).To(BeZero(), "no write without a record")
	g.Expect(h.envValue(targetName, poolEnv)).To(Equal("10"))
	g.Expect(p.Status.History).To(BeEmpty())

	// The retry reads the newer profile, records and applies.
	_, p = h.period("orders")
	g.Expect(h.workloadWrites.Load()).To(Equal(int64(1)))
	g.Expect(p.Status.History).To(HaveLen(1))
	g.Expect(p.Status.History[0].Diagnosis).NotTo(Equal(string(tuning.DiagnosisUnknown)))
	g.Expect(p.Status.History[0].Changes[0].To).To(Equal(h.envValue(targetName, poolEnv)))
}

// A decision recorded before its write, whose write then failed and whose
// record could not be taken out again, is dropped by the next reconcile,
// which decides again instead of letting a change that never happened settle.
func TestRecordWhoseWriteFailedIsDecidedAgain(t *testing.T) {
	h := newHarness(t)
	g := h.g
	h.deployment(targetName, poolVar("10"))
	h.create(poolProfile(h.ns, tuningv1alpha1.ModeAuto))
	h.observer.set(starvedPool(), false)
	h.onApply = func() error { return apierrors.NewServiceUnavailable("etcd leader changed") }
	patches := 0
	h.statusPatch = func() error {
		if patches++; patches == 2 { // the patch that takes the record out again
			return apierrors.NewServiceUnavailable("etcd leader changed")
		}
		return nil
	}
	h.clock.Step(30 * time.Second)
	_, err := h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: h.key("orders")})
	g.Expect(err).To(HaveOccurred())
	p := &tuningv1alpha1.PerformanceProfile{}
	g.Expect(env.Client.Get(h.ctx, h.key("orders"), p)).To(Succeed())
	g.Expect(p.Status.History).To(HaveLen(1), "recorded, not applied")
	g.Expect(h.envValue(targetName, poolEnv)).To(Equal("10"))

	h.onApply, h.statusPatch = nil, nil
	_, p = h.period("orders")
	raised := h.envValue(targetName, poolEnv)
	g.Expect(raised).NotTo(Equal("10"), "decided and applied again")
	g.Expect(p.Status.History).To(HaveLen(1))
	g.Expect(p.Status.History[0].Time.Time).To(BeTemporally("==", h.clock.Now().Truncate(time.Second)), "decided anew")
	g.Expect(p.Status.History[0].Changes).To(ConsistOf(tuningv1alpha1.Change{Knob: poolEnv, From: "10", To: raised}))
}

// scripted makes the decision engine return the given plans in turn; each
// change starts from the knob's value in the engine's input.
func (h *harness) scripted(plans ...func(tuning.Input) tuning.Plan) {
	i := 0
	h.r.opts.Decide = func(in tuning.Input) tuning.Plan {
		p := plans[min(i, len(plans)-1)](in)
		i++
		return p
	}
}

func move(fam tuning.Family, judgeKept bool, k tuning.Knob, to int64) func(tuning.Input) tuning.Plan {
	return func(in tuning.Input) tuning.Plan {
		from, has := in.State.Values[k]
		p := tuning.Plan{Family: fam, Diagnosis: tuning.DiagnosisPoolSaturated, Reason: "scripted", Rollout: true, SLOKnown: true,
			Changes: []tuning.Change{{Knob: k, From: from, HasFrom: has, To: to}}}
		if judgeKept {
			p.Judgement = &tuning.Judgement{Outcome: tuningv1alpha1.OutcomeKept, Observed: "scripted"}
		}
		return p
	}
}

// A reconcile that reads an old copy of the Deployment from the cache (one
// that still holds navius-tuner's previous value) neither records that old
// value as an unrecorded change nor applies it again with its next change.
func TestStaleCachedDeploymentDoesNotRevertThePreviousChange(t *testing.T) {
	const workersEnv = "WORKER_THREADS"
	h := newHarness(t)
	g := h.g
	h.deployment(targetName, poolVar("10"), corev1.EnvVar{Name: workersEnv, Value: "4"})
	p := poolProfile(h.ns, tuningv1alpha1.ModeAuto)
	p.Spec.WorkerThreads = &tuningv1alpha1.IntEnvKnob{Env: workersEnv, Min: 1, Max: 32}
	h.create(p)
	h.observer.set(starvedPool(), false)
	h.scripted(
		move(tuning.FamilyPool, false, poolEnv, 12),
		move(tuning.FamilyPool, true, poolEnv, 15),
		move(tuning.FamilyWorkers, true, workersEnv, 8),
	)

	h.period("orders")
	old := h.getDeployment(targetName) // navius-tuner's 12
	g.Expect(h.envValue(targetName, poolEnv)).To(Equal("12"))
	h.rolledOut(targetName)
	h.period("orders")
	g.Expect(h.envValue(targetName, poolEnv)).To(Equal("15"))
	h.rolledOut(targetName)

	// The cache lags: it still holds the Deployment with 12.
	h.cachedGet = func(key client.ObjectKey, obj client.Object) bool {
		d, ok := obj.(*appsv1.Deployment)
		if ok && key.Name == targetName {
			old.DeepCopyInto(d)
		}
		return ok && key.Name == targetName
	}
	_, p = h.period("orders")
	g.Expect(h.envValue(targetName, poolEnv)).To(Equal("15"), "navius-tuner's previous change stays")
	g.Expect(h.envValue(targetName, workersEnv)).To(Equal("8"))
	for _, d := range p.Status.History {
		g.Expect(d.Diagnosis).NotTo(Equal(string(tuning.DiagnosisUnknown)), "no unrecorded change is made up from the stale copy")
	}
	g.Expect(p.Status.History).To(HaveLen(3))
}
