package tuning

import "fmt"

// Kubernetes' defaults for an HPA, the starting points of a managed one.
const (
	defaultTargetCPU = 80
	// defaultDownWindowS is the HPA's scale-down stabilization window when its behaviour sets none.
	defaultDownWindowS = 300
)

// createHPA proposes the HPA the profile asks navius-tuner to manage when it
// does not exist yet, as one recorded change like any other:
//   - minReplicas at least the Deployment's spec.replicas, and the pods ready
//     now when more (within its bounds), so the new HPA scales nothing down
//     before a verdict on the SLOs allows it: pods still starting count;
//   - maxReplicas the larger of that and the lower bound, capped by the
//     connection budget at the worst moment of a rollout;
//   - Kubernetes' defaults (80 % CPU, a 300 s scale-down window) within bounds.
//
// A knob the profile does not bound is created at that value and not tuned.
// It returns true when the plan is complete (the creation, or why not).
func (d *decider) createHPA() bool {
	a := d.in.Spec.Autoscaling
	if a == nil || a.Managed == nil || d.in.State.HasHPA {
		return false
	}
	value := func(r knobRole, v int64) int64 {
		if k, ok := d.ks.role(r); ok {
			return k.clamp(v)
		}
		return v
	}
	ready := max(int64(d.in.State.Replicas), 1)
	start, from := ready, fmt.Sprintf("the %d pods ready now", ready)
	if spec := int64(d.in.State.SpecReplicas); spec > ready {
		start, from = spec, fmt.Sprintf("the Deployment's %d replicas (%d ready now)", spec, ready)
	}
	minR := value(roleHPAMin, start)
	maxR := max(value(roleHPAMax, max(start, minR)), minR)
	note := ""
	if _, budgeted := d.connLimit(); budgeted {
		if pool, known := d.poolSize(); known && d.maxPodsInBudget(pool) < maxR {
			maxR = d.maxPodsInBudget(pool)
			note = "; maxReplicas capped: " + d.budgetText(maxR, pool, pool)
		}
	}
	if k, ok := d.ks.role(roleHPAMax); maxR < minR || (ok && maxR != k.clamp(maxR)) {
		d.plan.Holds = append(d.plan.Holds, fmt.Sprintf("managed HPA not created: maxReplicas %d within the connection budget is below minReplicas %d or its bounds", maxR, minR))
		d.plan.Reason = d.sloText() + "; " + d.plan.Holds[len(d.plan.Holds)-1]
		return true
	}
	changes := []Change{
		{Knob: KnobHPAMinReplicas, To: minR},
		{Knob: KnobHPAMaxReplicas, To: maxR},
		{Knob: KnobHPATargetCPU, To: value(roleHPATarget, defaultTargetCPU)},
	}
	if _, ok := d.ks.role(roleHPAWindow); ok {
		changes = append(changes, Change{Knob: KnobHPAScaleDownWindowS, To: value(roleHPAWindow, defaultDownWindowS)})
	}
	hold := d.adopt(proposal{family: FamilyAutoscaling, diagnosis: DiagnosisStartingPoint, changes: changes, create: true,
		reason: fmt.Sprintf("%s; the managed HPA does not exist: created with minReplicas at %s%s",
			d.sloText(), from, note)})
	if hold != "" {
		d.plan.Holds = append(d.plan.Holds, hold)
		d.plan.Reason = d.sloText() + "; " + hold
	}
	return true
}
