package actuate

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

// TestTrimManagedFieldsAnswersTheSame: every question the reconciler asks
// an Ownership (who owns a tuned field, which env navius-tuner owns, when
// each manager last wrote) has the same answer from the trimmed entries,
// and what no question can reach is gone.
func TestTrimManagedFieldsAnswersTheSame(t *testing.T) {
	g := NewWithT(t)
	at := ptr.To(metav1.Now())
	entries := []metav1.ManagedFieldsEntry{
		{Manager: "navius-tuner", Operation: metav1.ManagedFieldsOperationApply, FieldsType: "FieldsV1", Time: at,
			FieldsV1: metav1.NewFieldsV1(`{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{".":{},"f:name":{},"f:env":{"k:{\"name\":\"POOL\"}":{".":{},"f:name":{},"f:value":{}}}}}}}}}`)},
		{Manager: "argocd-controller", Operation: metav1.ManagedFieldsOperationUpdate, FieldsType: "FieldsV1", Time: at,
			FieldsV1: metav1.NewFieldsV1(`{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:replicas":{},"f:selector":{},"f:template":{"f:metadata":{"f:labels":{}},"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{".":{},"f:image":{},"f:name":{},"f:env":{".":{},"k:{\"name\":\"TTL\"}":{".":{},"f:name":{},"f:value":{}}}}}}}}}`)},
		{Manager: "hpa-editor", Operation: metav1.ManagedFieldsOperationUpdate, FieldsType: "FieldsV1", Time: at,
			FieldsV1: metav1.NewFieldsV1(`{"f:spec":{"f:minReplicas":{},"f:metrics":{},"f:behavior":{"f:scaleDown":{"f:stabilizationWindowSeconds":{},"f:policies":{}}}}}`)},
		{Manager: "labeler", Operation: metav1.ManagedFieldsOperationUpdate, FieldsType: "FieldsV1", Time: at,
			FieldsV1: metav1.NewFieldsV1(`{"f:metadata":{"f:annotations":{"f:team":{}}}}`)},
		{Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate, Subresource: "status", FieldsType: "FieldsV1",
			FieldsV1: metav1.NewFieldsV1(`{"f:status":{"f:replicas":{}}}`)},
	}
	trimmed, err := TrimManagedFields(entries)
	g.Expect(err).NotTo(HaveOccurred())
	full, err := OwnershipOf(&metav1.ObjectMeta{ManagedFields: entries})
	g.Expect(err).NotTo(HaveOccurred())
	got, err := OwnershipOf(&metav1.ObjectMeta{ManagedFields: trimmed})
	g.Expect(err).NotTo(HaveOccurred())

	managers := func(os []Owner) []string {
		var out []string
		for _, o := range os {
			out = append(out, o.Manager+"/"+string(o.Operation)+"/"+o.Time.String())
		}
		return out
	}
	for _, p := range []fieldpath.Path{ReplicasPath, HPAMinReplicasPath, HPAMaxReplicasPath, HPAMetricsPath, HPAScaleDownWindowPath,
		EnvValuePath("app", "POOL"), EnvValuePath("app", "TTL"), EnvValuePath("sidecar", "POOL")} {
		for _, m := range []string{"navius-tuner", "argocd-controller", "hpa-editor"} {
			g.Expect(got.Owns(m, p)).To(Equal(full.Owns(m, p)), "%s owns %s", m, p)
			g.Expect(managers(got.Others(m, p))).To(Equal(managers(full.Others(m, p))), "others than %s at %s", m, p)
		}
	}
	g.Expect(got.OwnedEnv("navius-tuner", "app")).To(Equal(full.OwnedEnv("navius-tuner", "app")))
	g.Expect(managers(got)).To(Equal([]string{"navius-tuner/Apply/" + at.String(), "argocd-controller/Update/" + at.String(), "hpa-editor/Update/" + at.String()}),
		"the labeler owns no tuned field, the status entry is a subresource's")
	gotAt, gotOK := got.AppliedAt("navius-tuner")
	fullAt, fullOK := full.AppliedAt("navius-tuner")
	g.Expect(gotAt).To(Equal(fullAt))
	g.Expect(gotOK).To(Equal(fullOK))
	// Who wrote the object after navius-tuner is NOT answered the same: a
	// manager that owns no tuned field (a `kubectl set image`) is dropped.
	// That is why the owner of a failed rollout is read from the live object
	// (controllers readState), never from the cache.
	later := append([]metav1.ManagedFieldsEntry(nil), entries...)
	later[1].Time = ptr.To(metav1.NewTime(at.Add(-time.Minute)))
	later[2].Time = ptr.To(metav1.NewTime(at.Add(-time.Minute)))
	later[3].Time = ptr.To(metav1.NewTime(at.Add(time.Minute)))
	laterFull, err := OwnershipOf(&metav1.ObjectMeta{ManagedFields: later})
	g.Expect(err).NotTo(HaveOccurred())
	laterTrimmedEntries, err := TrimManagedFields(later)
	g.Expect(err).NotTo(HaveOccurred())
	laterTrimmed, err := OwnershipOf(&metav1.ObjectMeta{ManagedFields: laterTrimmedEntries})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(laterFull.WroteAfter("navius-tuner", at.Time)).To(BeTrue())
	g.Expect(laterTrimmed.WroteAfter("navius-tuner", at.Time)).To(BeFalse())
	for i, e := range trimmed {
		g.Expect(len(e.FieldsV1.GetRawBytes())).To(BeNumerically("<=", len(entries[i].FieldsV1.GetRawBytes())))
	}
	g.Expect(string(trimmed[1].FieldsV1.GetRawBytes())).NotTo(ContainSubstring("image"))
}
