package period

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/actuate"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

const (
	poolEnv    = "DB_POOL_MAX_CONNECTIONS"
	targetName = "orders-api"
)

// poolProfile tunes the pool of Deployment orders-api against p99 and p95.
func poolProfile(mode tuningv1alpha1.Mode) *tuningv1alpha1.PerformanceProfile {
	return &tuningv1alpha1.PerformanceProfile{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "orders"},
		Spec: tuningv1alpha1.PerformanceProfileSpec{
			TargetRef: tuningv1alpha1.TargetRef{Name: targetName, Container: "app"},
			Mode:      mode,
			Interval:  metav1.Duration{Duration: 30 * time.Second},
			SLO: tuningv1alpha1.SLO{Latency: []tuningv1alpha1.LatencyObjective{
				{Percentile: tuningv1alpha1.P99, Threshold: metav1.Duration{Duration: 100 * time.Millisecond}},
				{Percentile: tuningv1alpha1.P95, Threshold: metav1.Duration{Duration: 80 * time.Millisecond}},
			}},
			ConnectionPool: &tuningv1alpha1.ConnectionPool{
				MaxConnections: &tuningv1alpha1.IntEnvKnob{Env: poolEnv, Min: 5, Max: 100},
			},
		},
	}
}

// managed is a managedFields entry of manager owning the env value of name in container app.
func managedEnv(manager string, op metav1.ManagedFieldsOperationType, at time.Time, name string) metav1.ManagedFieldsEntry {
	raw := fmt.Sprintf(`{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{"f:env":{"k:{\"name\":\"%s\"}":{"f:value":{}}}}}}}}}`, name)
	return metav1.ManagedFieldsEntry{Manager: manager, Operation: op, Time: ptr.To(metav1.NewTime(at)),
		APIVersion: "apps/v1", FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(raw)}
}

// envWorld is a read of a target whose pool env is live, owned by owners.
func envWorld(t *testing.T, live string, owners ...metav1.ManagedFieldsEntry) World {
	t.Helper()
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: targetName, ManagedFields: owners}}
	d.Spec.Template.Spec.Containers = []corev1.Container{{Name: "app", Env: []corev1.EnvVar{{Name: poolEnv, Value: live}}}}
	own, err := actuate.OwnershipOf(d)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.ParseInt(live, 10, 64)
	return World{Objects: &actuate.Objects{Target: d, Container: "app", TargetOwn: own, Env: map[string]string{poolEnv: live}},
		Values: tuning.Values{poolEnv: n}}
}

func TestConflicts(t *testing.T) {
	gitopsAt := periodT0.Add(time.Hour)
	gitops := managedEnv("argocd-controller", metav1.ManagedFieldsOperationApply, gitopsAt, poolEnv)
	ours := managedEnv(tuningv1alpha1.FieldManager, metav1.ManagedFieldsOperationApply, periodT0, poolEnv)
	applied := func(to string) tuningv1alpha1.PerformanceProfileStatus {
		var st tuningv1alpha1.PerformanceProfileStatus
		Record(&st, tuningv1alpha1.Decision{Time: metav1.NewTime(periodT0), Family: "pool", Outcome: tuningv1alpha1.OutcomeKept,
			Changes: []tuningv1alpha1.Change{{Knob: poolEnv, From: "10", To: to}}})
		return st
	}
	for _, tc := range []struct {
		name string
		st   tuningv1alpha1.PerformanceProfileStatus
		ack  time.Time
		w    World
		want []string // knob: manager applied→live
	}{
		{"another manager changed what navius-tuner applied", applied("20"), time.Time{}, envWorld(t, "30", gitops),
			[]string{poolEnv + ": argocd-controller 20→30"}},
		{"the live value is what navius-tuner applied", applied("30"), time.Time{}, envWorld(t, "30", gitops), nil},
		{"navius-tuner owns the field again", applied("20"), time.Time{}, envWorld(t, "30", ours), nil},
		{"acknowledged after the other manager's write", applied("20"), gitopsAt.Add(time.Minute), envWorld(t, "30", gitops), nil},
		{"acknowledged before it", applied("20"), gitopsAt.Add(-time.Minute), envWorld(t, "30", gitops),
			[]string{poolEnv + ": argocd-controller 20→30"}},
		{"navius-tuner never applied it", tuningv1alpha1.PerformanceProfileStatus{}, time.Time{}, envWorld(t, "30", gitops), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := poolProfile(tuningv1alpha1.ModeAuto)
			p.Status = tc.st
			if !tc.ack.IsZero() {
				p.Annotations = map[string]string{tuningv1alpha1.ReconcileRequestedAnnotation: tc.ack.Format(time.RFC3339)}
			}
			var got []string
			for _, c := range Conflicts(p, tc.w) {
				got = append(got, fmt.Sprintf("%s: %s %s→%s", c.Knob, c.Manager, c.Applied, c.Live))
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("conflicts %q, want %q", got, tc.want)
			}
		})
	}
}
