// Package scale measures the manager at 1k, 5k and 10k profiles (benchmark
// B5): the real manager binary against a real API server (envtest) holding
// the profiles with their Deployments and HPAs, observing a fake Prometheus
// that serves every service's series in each batch. It reports memory, CPU,
// API requests per profile-hour, PromQL queries per period and the time
// until every profile is reconciled.
//
//	go test ./test/scale -run TestScale -scale.sizes=1000,5000,10000 -scale.out=docs/benchmarks/scale-figures.md -timeout 60m -v
//
// Without -scale.sizes it is a 200-profile smoke run (part of make test).
package scale

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/lab/testenv"
)

var (
	sizesFlag = flag.String("scale.sizes", "", "comma-separated numbers of profiles (default: a 200-profile smoke run)")
	outFlag   = flag.String("scale.out", "", "write the figures as Markdown to this file")
	pprofDir  = flag.String("scale.pprof", "", "save the manager's heap profile of each run in this directory, and its log with the GC trace (GODEBUG=gctrace=1)")
	selector  = flag.String("scale.selector", "", "run the manager as a shard with this --watch-label-selector (the profiles are unlabelled: !tuning.navius.io/shard selects them all)")
	steadyFor = flag.Duration("scale.steady", 0, "how long the steady state is measured [65s, two 30s periods; 31s for the smoke run]")
)

const (
	interval       = 30 * time.Second
	perNamespace   = 100
	reconcileLimit = 2 * time.Minute
)

// result is one run's figures.
type result struct {
	profiles        int
	setup           time.Duration
	allReconciled   time.Duration // 0 when not all were reconciled by the deadline:
	reconciledBy    int           // then how many were,
	waited          time.Duration // after this long
	peakRSS, endRSS int64         // bytes
	heapInuse       float64
	cpuStart        float64 // CPU seconds until all were reconciled
	cpuSteady       float64 // cores used in the steady state
	startRequests   map[string]float64
	steadyRequests  map[string]float64 // by HTTP method
	steadySpan      time.Duration
	startQueries    int64
	steadyQueries   int64
	maxPerPeriod    int           // the most queries in one period of the steady state
	queryLatency    time.Duration // mean server-side time of a batch answer
	answerBytes     int64         // mean size of a batch answer
	workloadWrites  int
	reconciles      float64
	starved         int
	// fromConfigMap profiles take their pool from a ConfigMap; the API
	// server's count of ConfigMap GETs until all were reconciled and in the
	// steady state.
	fromConfigMap                           int
	startConfigMapGets, steadyConfigMapGets float64
	// writes is every write of the manager's run, failed those the API
	// server refused (a conflict); changes those that changed something
	// (changeCounter), all counted by the API server once the manager
	// stopped. writes - failed - changes are no-op writes.
	writes, failed, changes float64
	// acceptsWrites is the write rate the API server accepted in the
	// run's probe (probeWriteRate) right before the manager started;
	// startWrites the manager's writes that changed something until all
	// were reconciled (or the deadline), and peakWriteRate the most of them
	// in any 10 s.
	acceptsWrites, startWrites, peakWriteRate float64
}

func TestScale(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an API server and the manager")
	}
	sizes := []int{200}
	if *sizesFlag != "" {
		sizes = nil
		for _, s := range strings.Split(*sizesFlag, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n < 1 {
				t.Fatalf("-scale.sizes: %q is not a number of profiles", s)
			}
			sizes = append(sizes, n)
		}
	}
	if *steadyFor == 0 {
		*steadyFor = 65 * time.Second
		if *sizesFlag == "" {
			*steadyFor = 31 * time.Second
		}
	}
	bin := buildManager(t)
	var results []result
	for _, n := range sizes {
		r := runScale(t, bin, n)
		results = append(results, r)
		t.Log("\n" + table([]result{r}))
	}
	report := table(results)
	t.Log("\n" + report)
	if *outFlag != "" {
		if err := os.WriteFile(*outFlag, []byte(markdown(results)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range results {
		if r.allReconciled <= 0 || r.allReconciled > reconcileLimit {
			t.Errorf("%d profiles: not all reconciled within %s (took %s)", r.profiles, reconcileLimit, r.allReconciled)
		}
		if r.workloadWrites < r.starved {
			t.Errorf("%d profiles: the engine wrote to %d Deployments or HPAs, want one for each of the %d starved services", r.profiles, r.workloadWrites, r.starved)
		}
		if noop := r.writes - r.failed - r.changes; noop != 0 {
			t.Errorf("%d profiles: %v no-op writes (%v writes, %v refused, %v changes)", r.profiles, noop, r.writes, r.failed, r.changes)
		}
		if r.maxPerPeriod > 5 {
			t.Errorf("%d profiles: %d PromQL queries in one period (target <= 5)", r.profiles, r.maxPerPeriod)
		}
		// Read each period, the steady state would hold a GET per
		// ConfigMap-fed profile and period (those that write nothing read
		// none).
		if periods := r.steadySpan.Seconds() / interval.Seconds(); r.steadyConfigMapGets >= float64(r.fromConfigMap)*periods/2 {
			t.Errorf("%d profiles: %v ConfigMap GETs in %s of steady state for %d ConfigMap-fed profiles: they are read every period or so",
				r.profiles, r.steadyConfigMapGets, r.steadySpan.Round(time.Second), r.fromConfigMap)
		}
	}
}

// buildManager builds cmd/manager into a temporary directory the way the
// image and the release build it (Dockerfile, hack/release.sh): static, no
// cgo, stripped. The binary's mapped pages count in the run's RSS, and a
// cgo build maps the C library besides.
func buildManager(t *testing.T) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "manager")
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", bin, "./cmd/manager")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the manager: %v\n%s", err, out)
	}
	return bin
}

func runScale(t *testing.T, bin string, n int) result {
	t.Helper()
	ctx := context.Background()
	env, err := testenv.StartEnvtest()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = env.Stop() }()

	prom := newBatchProm(t)

	start := time.Now()
	svcs := createProfiles(t, env.Client, n, prom.URL())
	prom.setServices(svcs)
	res := result{profiles: n, setup: time.Since(start)}
	t.Logf("%d profiles with their Deployments and HPAs created in %s", n, res.setup.Round(time.Second))
	// Before the watches start: the probe's writes are not the manager's.
	res.acceptsWrites = probeWriteRate(ctx, t, env.Client, prom.URL())
	t.Logf("the API server accepted %.0f writes/s (%d writers, %s)", res.acceptsWrites, probeWriters, probeFor)

	kubeconfig := writeKubeconfig(t, env.Config)
	metricsAddr, pprofAddr := freeAddr(t), freeAddr(t)
	cmd := exec.Command(bin, "--leader-elect=false", "--metrics-bind-address="+metricsAddr, "--metrics-secure=false",
		"--health-probe-bind-address=0", "--zap-log-level=error", "--pprof-bind-address="+pprofAddr)
	if *selector != "" {
		cmd.Args = append(cmd.Args, "--watch-label-selector="+*selector)
	}
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	logDir := t.TempDir()
	if *pprofDir != "" {
		// The live heap after each collection, over the whole run.
		cmd.Env = append(cmd.Env, "GODEBUG=gctrace=1")
		logDir = *pprofDir
	}
	logFile, err := os.Create(filepath.Join(logDir, fmt.Sprintf("manager-%d.log", n)))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	watchCtx, stopWatching := context.WithCancel(ctx)
	defer stopWatching()
	changes := watchChanges(watchCtx, t, env)
	rolled := completeRollouts(watchCtx, t, env)
	for _, s := range svcs {
		if s.starved {
			res.starved++
		}
	}
	for _, s := range svcs {
		if s.fromConfigMap {
			res.fromConfigMap++
		}
	}
	serverBase := countServerRequests(ctx, t, env.Config)
	started := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() }()
	pid := cmd.Process.Pid
	scrape := func() map[string]float64 { return scrapeMetrics("http://" + metricsAddr + "/metrics") }
	// Prometheus scrapes the manager from its start, as the chart's
	// ServiceMonitor has it: a scrape builds the series of every profile,
	// and its memory and CPU count in the figures.
	scraping, stopScraping := context.WithCancel(ctx)
	defer stopScraping()
	go scrapeLikePrometheus(scraping, "http://"+metricsAddr+"/metrics", serviceMonitorInterval)

	// Until every profile has a status for its generation. The manager's
	// writes that changed something, as the watches saw them (less the
	// harness's own rollout writes), are sampled each second.
	managerWrites := func() float64 { return float64(changes.changes.Load() - rolled.writes.Load()) }
	var written []sample
	deadline := started.Add(reconcileLimit + time.Minute)
	for time.Now().Before(deadline) {
		time.Sleep(time.Second)
		written = append(written, sample{time.Since(started), managerWrites()})
		// The watch's count, confirmed by one list of the API server.
		if at := time.Since(started); changes.reconciledCount() >= n && reconciledCount(ctx, t, env.Client) >= n {
			res.allReconciled = at
			break
		}
	}
	if res.allReconciled == 0 {
		res.reconciledBy, res.waited = reconciledCount(ctx, t, env.Client), time.Since(started)
		t.Logf("only %d of %d reconciled after %s; manager log: %s", res.reconciledBy, n, res.waited, tail(logFile.Name()))
	}
	res.startWrites = managerWrites()
	res.peakWriteRate = peakRate(written, 10*time.Second)
	res.cpuStart = cpuSeconds(pid)
	m0 := scrape()
	res.startRequests = byMethod(m0)
	s0 := countServerRequests(ctx, t, env.Config)
	res.startConfigMapGets = s0.configMapGets - serverBase.configMapGets
	res.startQueries = int64(prom.Count())

	// The steady state: the starved services stay starved and the engine
	// goes on acting on them (each rollout it starts completes at once:
	// completeRollouts); the others need nothing.
	q0, c0, t0 := int64(prom.Count()), cpuSeconds(pid), time.Now()
	b0, busy0 := prom.Served()
	time.Sleep(*steadyFor)
	m1 := scrape()
	res.steadySpan = time.Since(t0)
	res.steadyConfigMapGets = countServerRequests(ctx, t, env.Config).configMapGets - s0.configMapGets
	res.steadyQueries = int64(prom.Count()) - q0
	res.maxPerPeriod = prom.maxPerPeriod(t0)
	res.cpuSteady = (cpuSeconds(pid) - c0) / res.steadySpan.Seconds()
	res.steadyRequests = map[string]float64{}
	after := byMethod(m1)
	for k, v := range after {
		res.steadyRequests[k] = v - res.startRequests[k]
	}
	b1, busy1 := prom.Served()
	if q := int64(prom.Count()); q > 0 {
		res.queryLatency = busy1 / time.Duration(q)
		res.answerBytes = b1 / q
	}
	if res.steadyQueries > 0 {
		res.queryLatency = (busy1 - busy0) / time.Duration(res.steadyQueries)
		res.answerBytes = (b1 - b0) / res.steadyQueries
	}
	res.peakRSS, res.endRSS = rss(pid)
	res.heapInuse = m1["go_memstats_heap_inuse_bytes"]
	res.reconciles = m1["navius_tuner_reconcile_duration_seconds_count"]
	res.workloadWrites = workloadWrites(ctx, t, env.Client)
	if *pprofDir != "" {
		saveHeapProfile(t, "http://"+pprofAddr+"/debug/pprof/heap", filepath.Join(*pprofDir, fmt.Sprintf("heap-%d.pprof", n)))
	}
	// The no-op writes, counted once the manager is frozen: its writes as
	// the API server answered them, against the changes the watches saw,
	// each less the harness's own rollout writes.
	freezeManager(t, cmd)
	settleChanges(changes)
	sw := countServerRequests(ctx, t, env.Config).minus(serverBase)
	ok, attempts := float64(rolled.writes.Load()), float64(rolled.attempts.Load())
	res.failed = sw.refused - (attempts - ok)
	res.writes = sw.ok - ok + res.failed
	res.changes = float64(changes.changes.Load()) - ok
	if changes.lost.Load() {
		t.Error("a watch of changes ended early: the no-op writes cannot be counted")
	}
	return res
}

// freezeManager stops the manager where it is (SIGSTOP) rather than
// terminating it: every request it sent completes on the API server as it
// would have, answered and counted there, and no new one starts. A manager
// terminated instead cancels its requests in flight, and a write the API
// server applied for a client that had gone is counted as refused although
// it changed the object. The deferred kill ends it.
func freezeManager(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("freezing the manager: %v", err)
	}
}

// settleChanges waits until the watches have delivered every change: no
// new one for 3 s once nothing writes.
func settleChanges(cc *changeCounter) {
	last := cc.changes.Load()
	for quiet := 0; quiet < 3; {
		time.Sleep(time.Second)
		if now := cc.changes.Load(); now != last {
			last, quiet = now, 0
			continue
		}
		quiet++
	}
}

func saveHeapProfile(t *testing.T, url, path string) {
	resp, err := http.Get(url)
	if err != nil {
		t.Logf("heap profile: %v", err)
		return
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil {
		err = os.WriteFile(path, b, 0o644)
	}
	if err != nil {
		t.Logf("heap profile: %v", err)
	}
}

// createProfiles creates n Deployments (pool 10, rolled out: a literal env
// entry, or for one service in ten a ConfigMap through envFrom), HPAs and
// profiles, perNamespace per namespace, with 16 writers.
func createProfiles(t *testing.T, c client.Client, n int, promURL string) []service {
	t.Helper()
	ctx := context.Background()
	var svcs []service
	for i := range n {
		svcs = append(svcs, service{ns: fmt.Sprintf("scale-%03d", i/perNamespace), name: fmt.Sprintf("svc-%03d", i%perNamespace),
			starved: i%starvedEvery == 0, fromConfigMap: i%fromConfigMapEvery == 0 || i%fromConfigMapEvery == fromConfigMapEvery/2+1})
	}
	for i := 0; i < n; i += perNamespace {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: svcs[i].ns}}); err != nil {
			t.Fatal(err)
		}
	}
	work := make(chan service)
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range work {
				if err := createOne(ctx, c, s, promURL); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		}()
	}
	for _, s := range svcs {
		work <- s
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	return svcs
}

func createOne(ctx context.Context, c client.Client, s service, promURL string) error {
	labels := map[string]string{"app": s.name}
	pool := []corev1.EnvVar{{Name: "DB_POOL_MAX_CONNECTIONS", Value: "10"}}
	var poolFrom []corev1.EnvFromSource
	if s.fromConfigMap {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: s.name + "-settings"},
			Data: map[string]string{"DB_POOL_MAX_CONNECTIONS": "10", "LOG_LEVEL": "info"}}
		if err := c.Create(ctx, cm, client.FieldOwner("gitops")); err != nil {
			return err
		}
		pool, poolFrom = nil, []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: cm.Name}}}}
	}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: s.name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](4),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Image: "app:1", Env: pool, EnvFrom: poolFrom,
					Resources: corev1.ResourceRequirements{
						Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
						Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}},
				}}},
			},
		},
	}
	if err := c.Create(ctx, d, client.FieldOwner("gitops")); err != nil {
		return err
	}
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 4, UpdatedReplicas: 4, ReadyReplicas: 4, AvailableReplicas: 4}
	if err := c.Status().Update(ctx, d); err != nil {
		return err
	}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: s.name},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: s.name},
			MinReplicas:    ptr.To[int32](2), MaxReplicas: 10,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](70)}}}},
		},
	}
	if err := c.Create(ctx, hpa, client.FieldOwner("gitops")); err != nil {
		return err
	}
	return c.Create(ctx, profileFor(s, promURL))
}

// profileFor is the profile of a service: p99 within 100 ms, its pool
// tuned between 5 and 50, its HPA's bounds within 2–6 and 6–20.
func profileFor(s service, promURL string) *tuningv1alpha1.PerformanceProfile {
	return &tuningv1alpha1.PerformanceProfile{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: s.name},
		Spec: tuningv1alpha1.PerformanceProfileSpec{
			TargetRef: tuningv1alpha1.TargetRef{Name: s.name, Container: "app"},
			Mode:      tuningv1alpha1.ModeAuto,
			Interval:  metav1.Duration{Duration: interval},
			SLO: tuningv1alpha1.SLO{Latency: []tuningv1alpha1.LatencyObjective{
				{Percentile: tuningv1alpha1.P99, Threshold: metav1.Duration{Duration: 100 * time.Millisecond}}}},
			Metrics: tuningv1alpha1.MetricsSource{
				Prometheus: tuningv1alpha1.PrometheusEndpoint{URL: promURL},
				Labels:     map[string]string{"namespace": s.ns, "service": s.name},
			},
			ConnectionPool: &tuningv1alpha1.ConnectionPool{
				MaxConnections: &tuningv1alpha1.IntEnvKnob{Env: "DB_POOL_MAX_CONNECTIONS", Min: 5, Max: 50},
			},
			Autoscaling: &tuningv1alpha1.Autoscaling{
				HPARef:      &corev1.LocalObjectReference{Name: s.name},
				MinReplicas: &tuningv1alpha1.Int32Range{Min: 2, Max: 6},
				MaxReplicas: &tuningv1alpha1.Int32Range{Min: 6, Max: 20},
			},
		},
	}
}

// reconciledCount counts the profiles whose status is for their generation.
func reconciledCount(ctx context.Context, t *testing.T, c client.Client) int {
	n := 0
	cont := ""
	for {
		list := &tuningv1alpha1.PerformanceProfileList{}
		if err := c.List(ctx, list, client.Limit(2000), client.Continue(cont)); err != nil {
			t.Logf("listing profiles: %v", err)
			return 0
		}
		for _, p := range list.Items {
			if p.Status.ObservedGeneration == p.Generation && len(p.Status.Conditions) > 0 {
				n++
			}
		}
		if cont = list.Continue; cont == "" {
			return n
		}
	}
}

// workloadWrites counts Deployments and HPAs that navius-tuner wrote to.
func workloadWrites(ctx context.Context, t *testing.T, c client.Client) int {
	n := 0
	check := func(objs []metav1.Object) {
		for _, o := range objs {
			for _, m := range o.GetManagedFields() {
				if m.Manager == tuningv1alpha1.FieldManager {
					n++
				}
			}
		}
	}
	var ds appsv1.DeploymentList
	var hs autoscalingv2.HorizontalPodAutoscalerList
	if err := c.List(ctx, &ds); err != nil {
		t.Fatal(err)
	}
	if err := c.List(ctx, &hs); err != nil {
		t.Fatal(err)
	}
	var objs []metav1.Object
	for i := range ds.Items {
		objs = append(objs, &ds.Items[i])
	}
	for i := range hs.Items {
		objs = append(objs, &hs.Items[i])
	}
	check(objs)
	return n
}

func writeKubeconfig(t *testing.T, cfg *rest.Config) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin"}
	kc.CurrentContext = "envtest"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// serviceMonitorInterval is the chart's serviceMonitor.interval.
const serviceMonitorInterval = 30 * time.Second

// prometheusAccept is the Accept header of a Prometheus 3 scrape with its
// default scrape protocols.
const prometheusAccept = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5," +
	"application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3," +
	"text/plain;version=0.0.4;q=0.2,*/*;q=0.1"

// scrapeLikePrometheus reads url every interval until ctx ends, as
// Prometheus scrapes a target (its Accept header, gzip, the whole body
// read), and keeps nothing of it.
func scrapeLikePrometheus(ctx context.Context, url string, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return
		}
		req.Header.Set("Accept", prometheusAccept)
		req.Header.Set("Accept-Encoding", "gzip")
		if resp, err := http.DefaultTransport.RoundTrip(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		}
	}
}

// scrapeMetrics reads the manager's metrics: every sample, summed over
// labels by name, plus rest_client_requests_total by method under
// "requests:<METHOD>" and those the API server refused under "failed:<METHOD>".
func scrapeMetrics(url string) map[string]float64 {
	out := map[string]float64{}
	resp, err := http.Get(url)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		series := line[:i]
		name := series
		if j := strings.IndexByte(series, '{'); j >= 0 {
			name = series[:j]
		}
		out[name] += v
		if name == "rest_client_requests_total" {
			if k := strings.Index(series, `method="`); k >= 0 {
				m := series[k+8:]
				out["requests:"+m[:strings.IndexByte(m, '"')]] += v
				if c := strings.Index(series, `code="`); c >= 0 && !strings.HasPrefix(series[c+6:], "2") {
					out["failed:"+m[:strings.IndexByte(m, '"')]] += v
				}
			}
		}
	}
	return out
}

func byMethod(m map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		if strings.HasPrefix(k, "requests:") {
			out[strings.TrimPrefix(k, "requests:")] = v
		}
	}
	return out
}

// cpuSeconds is the user and system CPU time of a process.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(fields) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(fields[11], 64)
	sy, _ := strconv.ParseFloat(fields[12], 64)
	return (u + sy) / 100 // USER_HZ
}

// rss returns the peak and the current resident set size of a process.
func rss(pid int) (peak, now int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmHWM:":
			peak = kb << 10
		case "VmRSS:":
			now = kb << 10
		}
	}
	return peak, now
}

func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

func mib(b float64) string { return fmt.Sprintf("%.0f MiB", b/(1<<20)) }

func perProfileHour(byMethod map[string]float64, profiles int, span time.Duration) string {
	var parts []string
	for _, m := range []string{"GET", "LIST", "PATCH", "PUT", "POST", "DELETE"} {
		if v, ok := byMethod[m]; ok && v > 0 {
			parts = append(parts, fmt.Sprintf("%s %.2f", m, v/float64(profiles)/span.Hours()))
		}
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, ", ")
}

func rows(rs []result) [][]string {
	out := [][]string{{"profiles"}, {"setup (create objects)"}, {"all reconciled after start"},
		{"API server's write rate (probe) / the manager's until all reconciled: mean, peak 10 s"}, {"peak RSS"}, {"RSS in steady state"},
		{"Go heap in use"}, {"CPU until all reconciled"}, {"CPU in steady state"}, {"API requests at start (by method)"},
		{"API requests per profile-hour, steady (by method)"}, {"ConfigMap GETs: start / per fed profile-hour (fed)"},
		{"writes / refused / no-op (whole run)"}, {"Deployments/HPAs written (starved services)"},
		{"PromQL queries until all reconciled"}, {"PromQL queries per period, steady (engine acting)"}, {"mean batch answer (size, server time)"}}
	for _, r := range rs {
		start := []string{}
		for _, m := range []string{"GET", "PATCH", "PUT", "POST"} {
			if v := r.startRequests[m]; v > 0 {
				start = append(start, fmt.Sprintf("%s %.0f", m, v))
			}
		}
		vals := []string{
			strconv.Itoa(r.profiles), r.setup.Round(time.Second).String(), reconciledIn(r),
			fmt.Sprintf("%.0f writes/s / %.0f writes: %.0f/s, %.0f/s", r.acceptsWrites, r.startWrites, r.startWrites/startSpan(r).Seconds(), r.peakWriteRate),
			mib(float64(r.peakRSS)), mib(float64(r.endRSS)), mib(r.heapInuse),
			fmt.Sprintf("%.1f s", r.cpuStart), fmt.Sprintf("%.3f cores", r.cpuSteady), strings.Join(start, ", "),
			perProfileHour(r.steadyRequests, r.profiles, r.steadySpan),
			fmt.Sprintf("%.0f / %.2f (%d)", r.startConfigMapGets, r.steadyConfigMapGets/float64(max(r.fromConfigMap, 1))/r.steadySpan.Hours(), r.fromConfigMap),
			fmt.Sprintf("%.0f / %.0f / %.0f", r.writes, r.failed, r.writes-r.failed-r.changes),
			fmt.Sprintf("%d (%d)", r.workloadWrites, r.starved), strconv.FormatInt(r.startQueries, 10),
			fmt.Sprintf("%d at most (%d in %s)", r.maxPerPeriod, r.steadyQueries, r.steadySpan.Round(time.Second)),
			fmt.Sprintf("%.1f KiB, %s", float64(r.answerBytes)/1024, r.queryLatency.Round(100*time.Microsecond)),
		}
		for i, v := range vals {
			out[i] = append(out[i], v)
		}
	}
	return out
}

// startSpan is the time from the manager's start until all were reconciled,
// or until the harness stopped waiting.
func startSpan(r result) time.Duration {
	if r.allReconciled > 0 {
		return r.allReconciled
	}
	return r.waited
}

// sample is a cumulative count at a time since the start (count 0 at 0).
type sample struct {
	at    time.Duration
	count float64
}

// peakRate is the largest increase per second of a cumulative count over
// any span of at least w between two samples (or the start); over the whole
// span when that is shorter than w.
func peakRate(cum []sample, w time.Duration) float64 {
	if n := len(cum); n > 0 && cum[n-1].at < w {
		return cum[n-1].count / cum[n-1].at.Seconds()
	}
	peak := 0.0
	for i, s := range cum {
		from := sample{}
		for j := i - 1; j >= 0; j-- {
			if s.at-cum[j].at >= w {
				from = cum[j]
				break
			}
		}
		if span := s.at - from.at; span >= w {
			peak = max(peak, (s.count-from.count)/span.Seconds())
		}
	}
	return peak
}

func reconciledIn(r result) string {
	if r.allReconciled > 0 {
		return r.allReconciled.Round(100 * time.Millisecond).String()
	}
	return fmt.Sprintf("not all: %d after %s", r.reconciledBy, r.waited.Round(time.Second))
}

func table(rs []result) string {
	var b strings.Builder
	for _, row := range rows(rs) {
		fmt.Fprintf(&b, "%-52s", row[0])
		for _, v := range row[1:] {
			fmt.Fprintf(&b, " | %-28s", v)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func markdown(rs []result) string {
	rws := rows(rs)
	var b strings.Builder
	b.WriteString("| measure |")
	for _, v := range rws[0][1:] {
		fmt.Fprintf(&b, " %s profiles |", v)
	}
	b.WriteString("\n|---|")
	for range rws[0][1:] {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, row := range rws[1:] {
		fmt.Fprintf(&b, "| %s | %s |\n", row[0], strings.Join(row[1:], " | "))
	}
	return b.String()
}
