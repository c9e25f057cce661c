package actuate

import (
	"encoding/json"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/navius-dev/navius-tuner/internal/tuning"
)

func TestOwnershipReadsManagedFields(t *testing.T) {
	g := NewWithT(t)
	obj := &metav1.ObjectMeta{ManagedFields: []metav1.ManagedFieldsEntry{
		{Manager: "navius-tuner", Operation: metav1.ManagedFieldsOperationApply, FieldsType: "FieldsV1",
			FieldsV1: metav1.NewFieldsV1(`{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{".":{},"f:name":{},"f:env":{"k:{\"name\":\"POOL\"}":{".":{},"f:name":{},"f:value":{}}}}}}}}}`)},
		{Manager: "argocd-controller", Operation: metav1.ManagedFieldsOperationUpdate, FieldsType: "FieldsV1",
			Time:     ptr.To(metav1.Now()),
			FieldsV1: metav1.NewFieldsV1(`{"f:spec":{"f:replicas":{},"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{"f:env":{"k:{\"name\":\"TTL\"}":{".":{},"f:name":{},"f:value":{}}}}}}}}}`)},
		{Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate, Subresource: "status", FieldsType: "FieldsV1",
			FieldsV1: metav1.NewFieldsV1(`{"f:status":{"f:replicas":{}}}`)},
	}}
	own, err := OwnershipOf(obj)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(own).To(HaveLen(2), "subresource entries are skipped")
	g.Expect(own.OwnedEnv("navius-tuner", "app")).To(Equal([]string{"POOL"}))
	g.Expect(own.OwnedEnv("navius-tuner", "sidecar")).To(BeEmpty())
	g.Expect(own.Owns("navius-tuner", EnvValuePath("app", "POOL"))).To(BeTrue())
	g.Expect(own.Owns("navius-tuner", EnvValuePath("app", "TTL"))).To(BeFalse())
	others := own.Others("navius-tuner", EnvValuePath("app", "TTL"))
	g.Expect(others).To(HaveLen(1))
	g.Expect(others[0].Manager).To(Equal("argocd-controller"))
	g.Expect(own.Others("navius-tuner", ReplicasPath)).To(HaveLen(1))
}

func TestDeploymentEnvTouchesOnlyEnv(t *testing.T) {
	g := NewWithT(t)
	raw, err := json.Marshal(DeploymentEnv("shop", "orders", "app", map[string]string{"B": "2", "A": "1"}))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(raw)).To(MatchJSON(`{"kind":"Deployment","apiVersion":"apps/v1","metadata":{"name":"orders","namespace":"shop"},
		"spec":{"template":{"spec":{"containers":[{"name":"app","env":[{"name":"A","value":"1"},{"name":"B","value":"2"}]}]}}}}`))
}

// The change-cause names navius-tuner, the profile and every env change,
// in a stable order, and is the one annotation of the write.
func TestWithChangeCause(t *testing.T) {
	g := NewWithT(t)
	ac := WithChangeCause(DeploymentEnv("shop", "orders", "app", map[string]string{"POOL": "14", "TTL": "60"}), "shop", "orders-profile",
		[]tuning.Change{{Knob: "TTL", To: 60}, {Knob: "POOL", From: 10, HasFrom: true, To: 14}})
	raw, err := json.Marshal(ac)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(raw)).To(MatchJSON(`{"kind":"Deployment","apiVersion":"apps/v1","metadata":{"name":"orders","namespace":"shop",
		"annotations":{"kubernetes.io/change-cause":"navius-tuner, PerformanceProfile shop/orders-profile: POOL 10→14, TTL unset→60"}},
		"spec":{"template":{"spec":{"containers":[{"name":"app","env":[{"name":"POOL","value":"14"},{"name":"TTL","value":"60"}]}]}}}}`))
}

func TestHPAFieldsKeepsOtherMetrics(t *testing.T) {
	g := NewWithT(t)
	live := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "orders"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: 8, Metrics: []autoscalingv2.MetricSpec{
			{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceMemory,
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](70)}}},
			cpuMetricSpec(80),
		}}}
	ac, err := HPAFields(live, HPASettings{MaxReplicas: ptr.To[int32](12), TargetCPUUtilization: ptr.To[int32](65)})
	g.Expect(err).NotTo(HaveOccurred())
	raw, err := json.Marshal(ac)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(raw)).To(MatchJSON(`{"kind":"HorizontalPodAutoscaler","apiVersion":"autoscaling/v2","metadata":{"name":"orders","namespace":"shop"},
		"spec":{"maxReplicas":12,"metrics":[
			{"type":"Resource","resource":{"name":"memory","target":{"type":"Utilization","averageUtilization":70}}},
			{"type":"Resource","resource":{"name":"cpu","target":{"type":"Utilization","averageUtilization":65}}}]}}`))
	g.Expect(*live.Spec.Metrics[1].Resource.Target.AverageUtilization).To(Equal(int32(80)), "the live object is not modified")
	g.Expect(*SettingsOf(live).TargetCPUUtilization).To(Equal(int32(80)))
}

func TestOwnershipSharesTheSetsOfTheSameFields(t *testing.T) {
	g := NewWithT(t)
	entry := func(fields string) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{Manager: "navius-tuner", Operation: metav1.ManagedFieldsOperationApply,
			FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(fields)}
	}
	tuned := `{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{"f:env":{"k:{\"name\":\"POOL\"}":{".":{},"f:name":{},"f:value":{}}}}}}}}}`
	one, err := OwnershipOf(&metav1.ObjectMeta{ManagedFields: []metav1.ManagedFieldsEntry{entry(tuned)}})
	g.Expect(err).NotTo(HaveOccurred())
	two, err := OwnershipOf(&metav1.ObjectMeta{ManagedFields: []metav1.ManagedFieldsEntry{entry(tuned)}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(two[0].set).To(BeIdenticalTo(one[0].set), "two objects' entries of the same fields share one parsed set")
	g.Expect(two.OwnedEnv("navius-tuner", "app")).To(Equal([]string{"POOL"}))

	// An entry of other fields is its own set, and reads as its fields.
	other, err := OwnershipOf(&metav1.ObjectMeta{ManagedFields: []metav1.ManagedFieldsEntry{entry(`{"f:spec":{"f:replicas":{}}}`)}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(other[0].set).NotTo(BeIdenticalTo(one[0].set))
	g.Expect(other.Owns("navius-tuner", ReplicasPath)).To(BeTrue())
	g.Expect(other.OwnedEnv("navius-tuner", "app")).To(BeEmpty())

	// A long entry (an object read whole from the API server) is parsed each
	// time, so that the shared sets stay small.
	long := `{"f:metadata":{"f:annotations":{"f:note":{}},"f:labels":{` + strings.Repeat(`"f:l":{},`, maxSharedFieldsJSON/9) + `"f:app":{}}},"f:spec":{"f:replicas":{}}}`
	a, err := OwnershipOf(&metav1.ObjectMeta{ManagedFields: []metav1.ManagedFieldsEntry{entry(long)}})
	g.Expect(err).NotTo(HaveOccurred())
	b, err := OwnershipOf(&metav1.ObjectMeta{ManagedFields: []metav1.ManagedFieldsEntry{entry(long)}})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(b[0].set).NotTo(BeIdenticalTo(a[0].set))
	g.Expect(b.Owns("navius-tuner", ReplicasPath)).To(BeTrue())

	// A malformed entry is an error each time, never a shared empty set.
	for range 2 {
		_, err := OwnershipOf(&metav1.ObjectMeta{ManagedFields: []metav1.ManagedFieldsEntry{entry(`{"f:spec":`)}})
		g.Expect(err).To(HaveOccurred())
	}
}
