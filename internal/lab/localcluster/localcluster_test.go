package localcluster_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/navius-dev/navius-tuner/internal/lab/localcluster"
	"github.com/navius-dev/navius-tuner/internal/lab/localcluster/metricsapi"
)

const namespace = "lc-test"

// hotCPU reports 200m (twice the request) for pods labelled app=hot and 10m
// for the others.
func hotCPU(c client.Reader) metricsapi.PodCPUSource {
	return metricsapi.PodCPUFunc(func(ns string) map[string]int64 {
		var pods corev1.PodList
		if err := c.List(context.Background(), &pods, client.InNamespace(ns)); err != nil {
			return nil
		}
		out := map[string]int64{}
		for _, p := range pods.Items {
			out[p.Name] = 10
			if p.Labels["app"] == "hot" {
				out[p.Name] = 200
			}
		}
		return out
	})
}

func deployment(name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Tolerations: []corev1.Toleration{localcluster.FakeNodeToleration()},
					Containers: []corev1.Container{{
						Name:  "app",
						Image: "example.invalid/app:1",
						Env:   []corev1.EnvVar{{Name: "VERSION", Value: "1"}},
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
							corev1.ResourceCPU:    resource.MustParse("100m"),
							corev1.ResourceMemory: resource.MustParse("64Mi"),
						}},
					}},
				},
			},
		},
	}
}

// readyPods counts the Running and Ready pods of app that carry env VERSION=version.
func readyPods(ctx context.Context, g Gomega, c client.Client, app, version string) int {
	var pods corev1.PodList
	g.Expect(c.List(ctx, &pods, client.InNamespace(namespace), client.MatchingLabels{"app": app})).To(Succeed())
	n := 0
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil ||
			p.Spec.Containers[0].Env[0].Value != version {
			continue
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
				n++
			}
		}
	}
	return n
}

func TestLocalCluster(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	began := time.Now()
	c, err := localcluster.Start(ctx, localcluster.Options{
		Dir:             t.TempDir(),
		Nodes:           2,
		NodeCPU:         resource.MustParse("8"),
		NodeMemory:      resource.MustParse("32Gi"),
		TimeCompression: 15,
		Prometheus: &localcluster.PrometheusOptions{
			ScrapeConfigs: []localcluster.ScrapeConfig{{JobName: "sim", Labels: map[string]string{"env": "test"}}},
		},
	})
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = c.Stop() })
	t.Logf("started in %v (wall, incl. PKI)\n%s", time.Since(began).Round(time.Millisecond), c.Stats())
	cl := c.Client()
	g.Expect(c.ServeMetricsAPI(ctx, hotCPU(cl))).To(Succeed())
	g.Expect(cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}})).To(Succeed())

	t.Run("deployment pods run", func(t *testing.T) {
		g := NewWithT(t)
		start := time.Now()
		g.Expect(cl.Create(ctx, deployment("web", 2))).To(Succeed())
		g.Eventually(func(g Gomega) int { return readyPods(ctx, g, cl, "web", "1") }).
			WithTimeout(30 * time.Second).WithPolling(50 * time.Millisecond).Should(Equal(2))
		t.Logf("2 pods Running/Ready %v after creating the Deployment", time.Since(start).Round(time.Millisecond))
	})

	t.Run("rolling update completes", func(t *testing.T) {
		g := NewWithT(t)
		start := time.Now()
		d := &appsv1.Deployment{}
		g.Expect(cl.Get(ctx, client.ObjectKey{Namespace: namespace, Name: "web"}, d)).To(Succeed())
		before := d.DeepCopy()
		d.Spec.Template.Spec.Containers[0].Env[0].Value = "2"
		g.Expect(cl.Patch(ctx, d, client.MergeFrom(before))).To(Succeed()) // no conflict with status updates
		g.Eventually(func(g Gomega) {
			g.Expect(cl.Get(ctx, client.ObjectKeyFromObject(d), d)).To(Succeed())
			g.Expect(d.Status.ObservedGeneration).To(Equal(d.Generation))
			g.Expect(d.Status.UpdatedReplicas).To(Equal(int32(2)))
			g.Expect(d.Status.Replicas).To(Equal(int32(2)))
			g.Expect(d.Status.AvailableReplicas).To(Equal(int32(2)))
			g.Expect(readyPods(ctx, g, cl, "web", "2")).To(Equal(2))
		}).WithTimeout(30 * time.Second).WithPolling(50 * time.Millisecond).Should(Succeed())
		t.Logf("rolling update of 2 pods done in %v", time.Since(start).Round(time.Millisecond))
	})

	t.Run("real HPA scales up on served CPU", func(t *testing.T) {
		g := NewWithT(t)
		start := time.Now()
		g.Expect(cl.Create(ctx, deployment("hot", 2))).To(Succeed())
		g.Expect(cl.Create(ctx, &autoscalingv2.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "hot"},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "hot"},
				MinReplicas:    ptr.To(int32(2)),
				MaxReplicas:    6,
				Metrics: []autoscalingv2.MetricSpec{{
					Type: autoscalingv2.ResourceMetricSourceType,
					Resource: &autoscalingv2.ResourceMetricSource{
						Name:   corev1.ResourceCPU,
						Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(int32(50))},
					},
				}},
			},
		})).To(Succeed())
		g.Eventually(func(g Gomega) int { return readyPods(ctx, g, cl, "hot", "1") }).
			WithTimeout(60 * time.Second).WithPolling(200 * time.Millisecond).Should(Equal(6))
		hpa := &autoscalingv2.HorizontalPodAutoscaler{}
		g.Expect(cl.Get(ctx, client.ObjectKey{Namespace: namespace, Name: "hot"}, hpa)).To(Succeed())
		g.Expect(hpa.Status.CurrentMetrics).NotTo(BeEmpty())
		g.Expect(*hpa.Status.CurrentMetrics[0].Resource.Current.AverageUtilization).To(Equal(int32(200)))
		t.Logf("HPA scaled 2 → 6 ready replicas in %v (sync period %v)", time.Since(start).Round(time.Millisecond), c.HPASyncPeriod())
	})

	t.Run("prometheus scrapes targets set later", func(t *testing.T) {
		g := NewWithT(t)
		start := time.Now()
		target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = fmt.Fprintln(w, "sim_requests_total 42")
		}))
		defer target.Close()
		g.Expect(c.SetScrapeTargets("sim", []string{strings.TrimPrefix(target.URL, "http://")})).To(Succeed())
		g.Expect(c.SetScrapeTargets("nope", nil)).NotTo(Succeed())
		query := c.PrometheusURL() + "/api/v1/query?query=" + url.QueryEscape(`sim_requests_total{job="sim",env="test"}`)
		g.Eventually(func(g Gomega) string {
			resp, err := http.Get(query)
			g.Expect(err).NotTo(HaveOccurred())
			defer func() { _ = resp.Body.Close() }()
			var r struct {
				Data struct {
					Result []struct {
						Value []any `json:"value"`
					} `json:"result"`
				} `json:"data"`
			}
			g.Expect(json.NewDecoder(resp.Body).Decode(&r)).To(Succeed())
			g.Expect(r.Data.Result).To(HaveLen(1))
			return fmt.Sprint(r.Data.Result[0].Value[1])
		}).WithTimeout(30 * time.Second).WithPolling(200 * time.Millisecond).Should(Equal("42"))
		t.Logf("new target scraped and queryable after %v", time.Since(start).Round(time.Millisecond))
	})

	t.Run("rolling updates peak where the guard's oracle counts", func(t *testing.T) {
		checkRollingOracle(ctx, t, c)
	})

	stats := c.Stats()
	t.Logf("with 8 pods:\n%s", stats)
	for _, cs := range stats.Components {
		g.Expect(cs.Running).To(BeTrue(), cs.Name)
		g.Expect(cs.RSSBytes).To(BeNumerically(">", 0), cs.Name)
	}

	pids := c.PIDs()
	g.Expect(pids).To(HaveLen(6))
	stopStart := time.Now()
	g.Expect(c.Stop()).To(Succeed())
	t.Logf("stopped in %v", time.Since(stopStart).Round(time.Millisecond))
	for name, pid := range pids {
		g.Expect(alive(pid)).To(BeFalse(), "%s (pid %d) still exists", name, pid)
	}
	g.Expect(children()).To(BeEmpty(), "child processes left behind")
}

// children returns the pids of this process's live child processes.
func children() []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	self := strconv.Itoa(os.Getpid())
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(stat)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) > 1 && fields[1] == self { // fields[0] is the state, fields[1] the ppid
			out = append(out, pid)
		}
	}
	return out
}

func TestControlPlaneOnly(t *testing.T) {
	g := NewWithT(t)
	c, err := localcluster.Start(t.Context(), localcluster.Options{
		DisableControllerManager: true,
		DisableScheduler:         true,
		DisableKwok:              true,
	})
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = c.Stop() })
	g.Expect(c.Client().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "only"}})).To(Succeed())
	g.Expect(c.Kubeconfig()).To(BeAnExistingFile())
	t.Logf("\n%s", c.Stats())
	dir := c.Dir()
	g.Expect(c.Stop()).To(Succeed())
	g.Expect(dir).NotTo(BeADirectory(), "the temporary directory is removed")
	g.Expect(children()).To(BeEmpty(), "child processes left behind")
}

// alive reports whether pid is a live (not zombie) process.
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] != "Z"
}

// TestNoOrphansWhenKilled starts a cluster in a child process, kills that
// process with SIGKILL (no chance to clean up) and checks that the
// components die with it.
func TestNoOrphansWhenKilled(t *testing.T) {
	if os.Getenv("LOCALCLUSTER_HELPER") == "1" {
		helperProcess()
		return
	}
	g := NewWithT(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestNoOrphansWhenKilled$", "-test.v")
	cmd.Env = append(os.Environ(), "LOCALCLUSTER_HELPER=1", "LOCALCLUSTER_DIR="+t.TempDir())
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cmd.Start()).To(Succeed())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var pids map[string]int
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), "PIDS "); ok {
			g.Expect(json.Unmarshal([]byte(line), &pids)).To(Succeed())
			break
		}
	}
	g.Expect(pids).To(HaveKey(localcluster.APIServer))
	for _, pid := range pids {
		g.Expect(alive(pid)).To(BeTrue())
	}
	g.Expect(cmd.Process.Kill()).To(Succeed())
	_ = cmd.Wait()
	g.Eventually(func() []int {
		var left []int
		for _, pid := range pids {
			if alive(pid) {
				left = append(left, pid)
			}
		}
		return left
	}).WithTimeout(10 * time.Second).WithPolling(50 * time.Millisecond).Should(BeEmpty())
}

// helperProcess runs in the child of TestNoOrphansWhenKilled.
func helperProcess() {
	c, err := localcluster.Start(context.Background(), localcluster.Options{
		Dir:                      os.Getenv("LOCALCLUSTER_DIR"),
		DisableControllerManager: true,
		DisableScheduler:         true,
		DisableKwok:              true,
	})
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	data, _ := json.Marshal(c.PIDs())
	fmt.Printf("PIDS %s\n", data)
	time.Sleep(time.Minute)
	os.Exit(1)
}
