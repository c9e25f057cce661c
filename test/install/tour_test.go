package install_test

import (
	"context"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/prom"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// tourSample is the profile the README's tour shows and applies.
const tourSample = "config/samples/tour/performanceprofile.yaml"

// tour is the README's tour: its YAML block and its commands, in order.
type tour struct {
	yaml     string
	commands []string
}

// readTour reads the section of README.md between the tour markers: one
// ```yaml block (the profile) and the ```sh blocks, whose lines are the
// commands (a line ending in a backslash continues on the next).
func readTour(t *testing.T) tour {
	t.Helper()
	readme := string(readFile(t, "README.md"))
	begin := strings.Index(readme, "<!-- tour:begin")
	end := strings.Index(readme, "<!-- tour:end -->")
	if begin < 0 || end < begin {
		t.Fatal("README.md has no <!-- tour:begin --> ... <!-- tour:end --> section: the tour test runs the commands between them")
	}
	section := readme[begin:end]
	var tr tour
	for _, m := range regexp.MustCompile("(?s)```(\\w+)\n(.*?)```").FindAllStringSubmatch(section, -1) {
		switch m[1] {
		case "yaml":
			tr.yaml += m[2]
		case "sh":
			tr.commands = append(tr.commands, shellCommands(m[2])...)
		default:
			t.Fatalf("README tour: a ```%s block; only yaml and sh blocks are run", m[1])
		}
	}
	return tr
}

// shellCommands splits a shell block into commands, joining continued lines.
func shellCommands(block string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(block, "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\"))
			continue
		}
		cur.WriteString(trimmed)
		out = append(out, cur.String())
		cur.Reset()
	}
	return out
}

// keepsRunning reports whether the README says the command does not return
// (the manager): the tour goes on in a second terminal.
func keepsRunning(command string) bool {
	return strings.Contains(command, "(keeps running")
}

// TestReadmeTourShowsTheSampleItApplies: the profile the README shows is the
// one `kubectl apply -f config/samples/tour/` creates.
func TestReadmeTourShowsTheSampleItApplies(t *testing.T) {
	tr := readTour(t)
	var sample []string
	for _, line := range strings.Split(string(readFile(t, tourSample)), "\n") {
		if !strings.HasPrefix(line, "#") {
			sample = append(sample, line)
		}
	}
	if got, want := strings.TrimSpace(tr.yaml), strings.TrimSpace(strings.Join(sample, "\n")); got != want {
		t.Errorf("the README tour's YAML and %s differ; keep them identical.\nREADME:\n%s\n\n%s:\n%s", tourSample, got, tourSample, want)
	}
}

// TestReadmeTour runs every command of the README's tour, in order, as a user
// would: against the local API server (the kubeconfig is the only setting),
// with the kubectl built from Go modules first on PATH and no flock on it (a
// Mac has none), and the manager that `make run` starts running in the
// background. Editing a command in the README changes what this test runs; a
// command that fails fails the test.
func TestReadmeTour(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	tr := readTour(t)
	// The tour must still do what the README promises; an emptied section
	// would otherwise pass by running nothing.
	joined := strings.Join(tr.commands, "\n")
	for _, step := range []string{"kubectl apply --server-side -k config/crd", "make run", "kubectl apply -f config/samples/tour/", "kubectl wait ", "kubectl get ", "kubectl describe ", "tuning.navius.io/paused=true"} {
		g.Expect(joined).To(ContainSubstring(step), "the README tour lost a step")
	}

	probe := freeAddr(t)
	environ := []string{
		"KUBECONFIG=" + kubeconfig,
		"PATH=" + assets + string(os.PathListSeparator) + pathWithout(t, "flock"),
		// Ports of this test's own choosing: the defaults may be taken on a
		// shared machine. Leader election and everything else keep their defaults.
		"RUN_ARGS=--metrics-bind-address=0 --health-probe-bind-address=" + probe,
	}
	var outputs []string
	for _, c := range tr.commands {
		if keepsRunning(c) {
			startInBackground(t, environ, c, "http://"+probe+"/readyz")
			continue
		}
		r := command(t, nil, environ, "bash", "-c", c)
		g.Expect(r.err).NotTo(HaveOccurred(), "README tour command %q:\n%s", c, r)
		outputs = append(outputs, r.stdout)
	}

	// What the commands showed, and what the manager did.
	all := strings.Join(outputs, "\n")
	g.Expect(all).To(MatchRegexp(`(?m)^shop\s+orders-api\b`), "kubectl get -A lists the profile")
	g.Expect(all).To(ContainSubstring("MetricsAvailable"), "kubectl describe shows the conditions")
	got := &tuningv1alpha1.PerformanceProfile{}
	g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: "shop", Name: "orders-api"}, got)).To(Succeed())
	g.Expect(got.Annotations).To(HaveKeyWithValue(tuningv1alpha1.PausedAnnotation, "true"))
	// The operator found the workload and read its knobs, as the README says.
	expectReadWithoutMetrics(g, got)
	ready := meta.FindStatusCondition(got.Status.Conditions, tuningv1alpha1.ConditionReady)
	g.Expect(ready).NotTo(BeNil())
	g.Expect(ready.Reason).To(Equal(tuningv1alpha1.ReasonMetricsUnavailable))

	// The Argo CD health check of docs/gitops.md on this real status: no
	// Prometheus yet is a wait, not a failure a person must fix.
	g.Expect(argoHealth(t, got).status).To(Equal("Progressing"))
}

// startInBackground starts a command that keeps running (the manager) in its
// own process group, waits until readyURL answers 200, and stops the whole
// group (make, go run and the manager) when the test ends.
func startInBackground(t *testing.T, environ []string, c, readyURL string) {
	t.Helper()
	logs, err := os.Create(filepath.Join(t.TempDir(), "background.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-c", c)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), environ...)
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		var err error
		select {
		case err = <-exited:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			err = <-exited
		}
		if t.Failed() {
			t.Logf("%q exit: %v", c, err)
			out, _ := os.ReadFile(logs.Name())
			t.Logf("%q log:\n%s", c, out)
		}
	})
	// The first `make run` compiles controller-gen's output and the manager.
	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			exited <- err
			out, _ := os.ReadFile(logs.Name())
			t.Fatalf("README tour command %q exited (%v) instead of running on:\n%s", c, err, out)
		case <-time.After(500 * time.Millisecond):
		}
		if code, err := status(context.Background(), readyURL, ""); err == nil && code == http.StatusOK {
			return
		}
	}
	t.Fatalf("README tour command %q: not ready at %s within 10 minutes", c, readyURL)
}

// TestReadmeSaysHowManyRequestsAPercentileNeeds checks the README's figures
// of TooFewSamples against the reader: p99 and p95 read TooFewSamples one
// request below the count the README names and a value at it, and the rate it
// names is that count over the default 5-minute window.
func TestReadmeSaysHowManyRequestsAPercentileNeeds(t *testing.T) {
	g := NewWithT(t)
	readme := strings.Join(strings.Fields(string(readFile(t, "README.md"))), " ")
	m := regexp.MustCompile(`p99 needs ([0-9,]+) of them, about ([0-9.]+) requests per second; p95 needs ([0-9,]+), ([0-9.]+) per second`).FindStringSubmatch(readme)
	g.Expect(m).To(HaveLen(5), "README.md no longer says how many requests p99 and p95 need")
	window := 5 * time.Minute
	for _, c := range []struct {
		q           float64
		count, rate string
	}{{0.99, m[1], m[2]}, {0.95, m[3], m[4]}} {
		n, err := strconv.Atoi(strings.ReplaceAll(c.count, ",", ""))
		g.Expect(err).NotTo(HaveOccurred())
		buckets := []prom.Bucket{{UpperBound: 0.05, Count: float64(n)}, {UpperBound: 0.1, Count: float64(n)}, {UpperBound: 0.25, Count: float64(n)}, {UpperBound: math.Inf(1), Count: float64(n)}}
		_, reason, msg := prom.Percentile(c.q, buckets, float64(n-1), 0.1, window)
		g.Expect(reason).To(Equal(signals.ReasonTooFewSamples), "p%.0f with %d requests: %s", c.q*100, n-1, msg)
		_, reason, msg = prom.Percentile(c.q, buckets, float64(n), 0.1, window)
		g.Expect(reason).To(BeEmpty(), "p%.0f with %d requests: %s", c.q*100, n, msg)
		g.Expect(c.rate).To(Equal(strconv.FormatFloat(float64(n)/window.Seconds(), 'f', 1, 64)))
	}
}
