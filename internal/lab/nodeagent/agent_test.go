package nodeagent_test

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/navius-dev/navius-tuner/internal/lab/harness"
	"github.com/navius-dev/navius-tuner/internal/lab/localcluster"
	"github.com/navius-dev/navius-tuner/internal/lab/nodeagent"
)

// TestAgentRunsTheDeploymentsPods runs a Deployment of cmd/real-service on
// the agent's node of a real control plane: each pod becomes a process with
// the pod's env (a literal, a ConfigMap through envFrom, the pod IP from the
// downward API), Ready at its own IP; an env change rolls the Deployment and
// the new processes run with the new pool size while the old ones are gone;
// scaling to zero leaves no process.
func TestAgentRunsTheDeploymentsPods(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the local cluster")
	}
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	c, err := localcluster.Start(ctx, localcluster.Options{TimeCompression: 4})
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = c.Stop() }()
	bin := filepath.Join(t.TempDir(), "real-service")
	g.Expect(harness.BuildBinary(ctx, "./cmd/real-service", bin, io.Discard)).To(Succeed())
	cs, err := kubernetes.NewForConfig(c.RESTConfig())
	g.Expect(err).NotTo(HaveOccurred())
	agent, err := nodeagent.Start(ctx, nodeagent.Options{Client: cs, Binary: bin, LogDir: filepath.Join(c.LogDir(), "pods"), Subnet: 7})
	g.Expect(err).NotTo(HaveOccurred())
	defer agent.Stop()

	cl := c.Client()
	ns := "agent"
	g.Expect(cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	g.Expect(cl.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "settings"},
		// Nothing listens there: the service starts without connecting.
		Data: map[string]string{"DATABASE_URL": "postgres://app@127.0.0.1:1/app"}})).To(Succeed())
	labels := map[string]string{"app": "svc"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "svc"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					NodeSelector:                  nodeagent.NodeSelector(),
					Tolerations:                   []corev1.Toleration{nodeagent.Toleration()},
					TerminationGracePeriodSeconds: ptr.To[int64](3),
					Containers: []corev1.Container{{
						Name: "app", Image: "example.invalid/svc:1",
						Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
						Env: []corev1.EnvVar{
							{Name: "DB_POOL_MAX_CONNECTIONS", Value: "2"},
							{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
						},
						EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}}},
						ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
							HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)},
						}},
					}},
				},
			},
		},
	}
	g.Expect(cl.Create(ctx, dep)).To(Succeed())

	// readyPods are the Deployment's ready pods, with the pool size each
	// process reports on its own IP.
	readyPods := func(g Gomega) map[string]string {
		var pods corev1.PodList
		g.Expect(cl.List(ctx, &pods, client.InNamespace(ns))).To(Succeed())
		out := map[string]string{}
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil || !podReady(&p) {
				continue
			}
			g.Expect(p.Status.PodIP).To(HavePrefix("127.7."))
			g.Expect(p.Spec.NodeName).To(Equal("local-node-0"))
			resp, err := http.Get("http://" + p.Status.PodIP + ":8080/metrics")
			g.Expect(err).NotTo(HaveOccurred())
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			out[string(p.UID)] = poolMax(string(body))
		}
		return out
	}
	var first map[string]string
	g.Eventually(func(g Gomega) {
		first = readyPods(g)
		g.Expect(first).To(HaveLen(2))
		for _, pool := range first {
			g.Expect(pool).To(Equal("2"))
		}
	}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
	oldPIDs := pids(agent)
	g.Expect(oldPIDs).To(HaveLen(2))

	// A merge patch, not an Update: the deployment controller writes the
	// status meanwhile, and an Update would lose that race with a conflict.
	g.Expect(cl.Get(ctx, client.ObjectKeyFromObject(dep), dep)).To(Succeed())
	before := dep.DeepCopy()
	dep.Spec.Template.Spec.Containers[0].Env[0].Value = "5"
	g.Expect(cl.Patch(ctx, dep, client.MergeFrom(before))).To(Succeed())
	g.Eventually(func(g Gomega) {
		now := readyPods(g)
		g.Expect(now).To(HaveLen(2))
		for uid, pool := range now {
			g.Expect(first).NotTo(HaveKey(uid), "a new pod")
			g.Expect(pool).To(Equal("5"), "the new process runs the new pool size")
		}
		for _, pid := range oldPIDs {
			g.Expect(syscall.Kill(pid, 0)).To(MatchError(syscall.ESRCH), "the old pod's process is gone")
		}
	}).WithTimeout(2 * time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())

	g.Expect(cl.Get(ctx, client.ObjectKeyFromObject(dep), dep)).To(Succeed())
	before = dep.DeepCopy()
	dep.Spec.Replicas = ptr.To[int32](0)
	g.Expect(cl.Patch(ctx, dep, client.MergeFrom(before))).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(agent.Pods()).To(BeEmpty())
		var pods corev1.PodList
		g.Expect(cl.List(ctx, &pods, client.InNamespace(ns))).To(Succeed())
		g.Expect(pods.Items).To(BeEmpty(), "the agent removes the deleted pods")
	}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// poolMax reads db_client_connection_max from an exposition.
func poolMax(exposition string) string {
	for line := range strings.SplitSeq(exposition, "\n") {
		if strings.HasPrefix(line, "db_client_connection_max{") {
			return line[strings.LastIndexByte(line, ' ')+1:]
		}
	}
	return ""
}

func pids(a *nodeagent.Agent) []int {
	var out []int
	for _, p := range a.Pods() {
		out = append(out, p.PID)
	}
	return out
}
