package harness

import (
	"context"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/actuate"
	"github.com/navius-dev/navius-tuner/internal/lab/sim"
	"github.com/navius-dev/navius-tuner/internal/lab/sim/kube"
)

// Snapshot is a workload as the cluster and the model see it at one moment.
type Snapshot struct {
	// Wall is the wall time since the workload started; SimSeconds the model's time.
	Wall       time.Duration
	SimSeconds float64
	// Offered is the trace's load now, in requests per (simulated) second.
	Offered float64
	// Last is the ground truth of the last simulated step; Window exact
	// statistics over the last window seconds of simulated time.
	Last   sim.StepStats
	Window sim.WindowStats

	// Env is the Deployment's pod-template env of the app container, with
	// its envFrom ConfigMaps resolved as the kubelet does; SidecarEnv the
	// same for the other containers, by name.
	Env        map[string]string
	SidecarEnv map[string]map[string]string
	// Replicas are the Deployment's ready replicas; Desired its spec.replicas.
	Replicas, Desired int32
	// HPA settings (zero without an HPA).
	HPAMin, HPAMax, HPATarget int32
	// RedisReplicas is the Redis StatefulSet's spec.replicas.
	RedisReplicas int32
	// Profile is the PerformanceProfile (nil when absent).
	Profile *tuningv1alpha1.PerformanceProfile
}

// Snapshot reads the workload's objects and the model's ground truth over the
// last windowSim simulated seconds.
func (w *Workload) Snapshot(ctx context.Context, windowSim float64) (Snapshot, error) {
	c := w.env.client
	now := time.Now()
	s := Snapshot{Wall: now.Sub(w.Clock.Start), SimSeconds: w.Model.Now(), Env: map[string]string{}}
	s.Offered = w.Trace().RPS(s.SimSeconds)
	if h := w.Model.History(); len(h) > 0 {
		s.Last = h[len(h)-1]
	}
	s.Window = w.Model.Window(windowSim)
	key := client.ObjectKey{Namespace: w.Namespace, Name: w.Name}
	var d appsv1.Deployment
	if err := c.Get(ctx, key, &d); err != nil {
		return s, err
	}
	s.Replicas = d.Status.ReadyReplicas
	if d.Spec.Replicas != nil {
		s.Desired = *d.Spec.Replicas
	}
	configMaps := func(name string) (map[string]string, bool) {
		var cm corev1.ConfigMap
		if err := c.Get(ctx, client.ObjectKey{Namespace: w.Namespace, Name: name}, &cm); err != nil {
			return nil, false
		}
		return cm.Data, true
	}
	for i := range d.Spec.Template.Spec.Containers {
		ct := &d.Spec.Template.Spec.Containers[i]
		if ct.Name == Container {
			s.Env = kube.ContainerEnv(ct, configMaps)
			continue
		}
		if s.SidecarEnv == nil {
			s.SidecarEnv = map[string]map[string]string{}
		}
		s.SidecarEnv[ct.Name] = kube.ContainerEnv(ct, configMaps)
	}
	var hpa autoscalingv2.HorizontalPodAutoscaler
	switch err := c.Get(ctx, key, &hpa); {
	case err == nil:
		s.HPAMin, s.HPAMax, s.HPATarget = HPASettings(&hpa)
	case !apierrors.IsNotFound(err):
		return s, err
	}
	var sts appsv1.StatefulSet
	if err := c.Get(ctx, client.ObjectKey{Namespace: w.Namespace, Name: RedisName}, &sts); err != nil {
		return s, err
	}
	if sts.Spec.Replicas != nil {
		s.RedisReplicas = *sts.Spec.Replicas
	}
	var p tuningv1alpha1.PerformanceProfile
	switch err := c.Get(ctx, key, &p); {
	case err == nil:
		s.Profile = &p
	case !apierrors.IsNotFound(err):
		return s, err
	}
	return s, nil
}

// EnvInt is an env value of the Deployment's template as an integer (-1 when absent or not a number).
func (s Snapshot) EnvInt(name string) int {
	v, err := strconv.Atoi(s.Env[name])
	if err != nil {
		return -1
	}
	return v
}

// HPASettings reads an HPA's floor, ceiling and CPU target as navius-tuner
// reads them (actuate.SettingsOf); 0 for a field that is unset.
func HPASettings(hpa *autoscalingv2.HorizontalPodAutoscaler) (minReplicas, maxReplicas, targetCPU int32) {
	set := actuate.SettingsOf(hpa)
	return ptr.Deref(set.MinReplicas, 0), ptr.Deref(set.MaxReplicas, 0), ptr.Deref(set.TargetCPUUtilization, 0)
}
