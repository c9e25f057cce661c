package plugin

import (
	"context"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
)

// TestDiffAsPatches prints a recommendation that moves the pool, the HPA
// and the Redis replicas as strategic-merge patches, applies each with the
// API server's strategic merge, and reads the proposed values back, with
// everything the patches do not name left as it was.
func TestDiffAsPatches(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	const ns = "gitops"
	ensureNamespace(t, ns)
	labels := map[string]string{"app": "orders"}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "orders"},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{
					{Name: "proxy", Image: "envoy:1", Env: []corev1.EnvVar{{Name: "DB_POOL_MAX_CONNECTIONS", Value: "999"}}},
					{Name: "app", Image: "orders:1", Env: []corev1.EnvVar{
						{Name: "LOG_LEVEL", Value: "info"}, {Name: "DB_POOL_MAX_CONNECTIONS", Value: "10"}, {Name: "REGION", Value: "eu"}}},
				}}}}}
	cpu := autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
		Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](70)}}}
	mem := autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
		Name: corev1.ResourceMemory, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](80)}}}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "orders"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "orders"},
			MinReplicas: ptr.To[int32](2), MaxReplicas: 10, Metrics: []autoscalingv2.MetricSpec{mem, cpu}}}
	redisLabels := map[string]string{"app": "redis"}
	redis := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "redis"},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: redisLabels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: redisLabels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "redis", Image: "redis:7"}}}}}}
	for _, obj := range []client.Object{d, hpa, redis} {
		g.Expect(env.Client.Create(ctx, obj)).To(Succeed())
	}
	p := &tuningv1alpha1.PerformanceProfile{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "orders"},
		Spec: tuningv1alpha1.PerformanceProfileSpec{
			TargetRef: tuningv1alpha1.TargetRef{Name: "orders", Container: "app"},
			Mode:      tuningv1alpha1.ModeRecommend,
			SLO:       tuningv1alpha1.SLO{Latency: []tuningv1alpha1.LatencyObjective{{Percentile: tuningv1alpha1.P99, Threshold: dur(100e6)}}},
			Metrics:   tuningv1alpha1.MetricsSource{Prometheus: tuningv1alpha1.PrometheusEndpoint{URL: "http://prometheus.monitoring:9090"}},
			ConnectionPool: &tuningv1alpha1.ConnectionPool{
				MaxConnections: &tuningv1alpha1.IntEnvKnob{Env: "DB_POOL_MAX_CONNECTIONS", Min: 5, Max: 100}},
			Autoscaling: &tuningv1alpha1.Autoscaling{HPARef: &corev1.LocalObjectReference{Name: "orders"},
				MaxReplicas:          &tuningv1alpha1.Int32Range{Min: 4, Max: 30},
				TargetCPUUtilization: &tuningv1alpha1.Int32Range{Min: 40, Max: 90}},
			Cache: &tuningv1alpha1.Cache{Redis: &tuningv1alpha1.RedisCache{Replicas: &tuningv1alpha1.RedisReplicas{
				TargetRef: tuningv1alpha1.WorkloadRef{Kind: "StatefulSet", Name: "redis"}, Min: 1, Max: 5}}},
		},
	}
	g.Expect(env.Client.Create(ctx, p)).To(Succeed())
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), p) })

	_, errOut, code := run(t, "diff", "orders", "-n", ns, "-o", "patch")
	g.Expect(code).To(Equal(0), errOut)
	g.Expect(errOut).To(ContainSubstring("proposes no change"), "no recommendation yet: no patch")

	p.Status.Recommendation = &tuningv1alpha1.Recommendation{Time: at(0), Changes: []tuningv1alpha1.Change{
		{Knob: "DB_POOL_MAX_CONNECTIONS", From: "10", To: "20"},
		{Knob: "hpa.maxReplicas", From: "10", To: "15"}, {Knob: "hpa.targetCPUUtilization", From: "70", To: "60"},
		{Knob: "redisReplicas", From: "2", To: "3"}}}
	g.Expect(env.Client.Status().Update(ctx, p)).To(Succeed())
	out, errOut, code := run(t, "diff", "orders", "-n", ns, "-o", "patch")
	g.Expect(code).To(Equal(0), errOut)
	docs := strings.Split(out, "\n---\n")
	g.Expect(docs).To(HaveLen(3), out)
	for _, doc := range docs {
		g.Expect(doc).To(HavePrefix("# Strategic-merge patch of "))
		var head struct {
			Kind     string            `json:"kind"`
			Metadata metav1.ObjectMeta `json:"metadata"`
		}
		g.Expect(yaml.Unmarshal([]byte(doc), &head)).To(Succeed())
		body, err := yaml.YAMLToJSON([]byte(doc))
		g.Expect(err).NotTo(HaveOccurred())
		var obj client.Object
		switch head.Kind {
		case "Deployment":
			obj = &appsv1.Deployment{}
		case "HorizontalPodAutoscaler":
			obj = &autoscalingv2.HorizontalPodAutoscaler{}
		case "StatefulSet":
			obj = &appsv1.StatefulSet{}
		default:
			t.Fatalf("a patch of an unexpected kind %q:\n%s", head.Kind, doc)
		}
		obj.SetNamespace(head.Metadata.Namespace)
		obj.SetName(head.Metadata.Name)
		g.Expect(env.Client.Patch(ctx, obj, client.RawPatch(types.StrategicMergePatchType, body))).To(Succeed(), doc)
	}

	g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(d), d)).To(Succeed())
	containers := d.Spec.Template.Spec.Containers
	g.Expect(containers).To(HaveLen(2))
	g.Expect(containers[0].Env).To(Equal([]corev1.EnvVar{{Name: "DB_POOL_MAX_CONNECTIONS", Value: "999"}}), "the other container is left alone")
	g.Expect(containers[1].Env).To(ConsistOf(corev1.EnvVar{Name: "LOG_LEVEL", Value: "info"},
		corev1.EnvVar{Name: "DB_POOL_MAX_CONNECTIONS", Value: "20"}, corev1.EnvVar{Name: "REGION", Value: "eu"}), "env merged by name")
	g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(hpa), hpa)).To(Succeed())
	g.Expect(hpa.Spec.MaxReplicas).To(BeEquivalentTo(15))
	g.Expect(*hpa.Spec.MinReplicas).To(BeEquivalentTo(2), "a field the recommendation does not move stays")
	g.Expect(hpa.Spec.Metrics).To(HaveLen(2), "the memory metric stays")
	g.Expect(*hpa.Spec.Metrics[0].Resource.Target.AverageUtilization).To(BeEquivalentTo(80))
	g.Expect(*hpa.Spec.Metrics[1].Resource.Target.AverageUtilization).To(BeEquivalentTo(60))
	g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(redis), redis)).To(Succeed())
	g.Expect(*redis.Spec.Replicas).To(BeEquivalentTo(3))
}
