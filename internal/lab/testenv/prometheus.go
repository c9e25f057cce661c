// This file: StartPrometheus starts a real Prometheus for tests: a temporary
// configuration that scrapes the given targets, a free loopback port, a
// temporary TSDB, and a clean stop when the test ends. The binary is the one
// hack/build-tools.sh builds into bin/k8s/<version>/prometheus; when it is
// missing, Start builds it by running that script (it never skips).

package testenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/navius-dev/navius-tuner/internal/lab/localcluster"
)

// PrometheusOptions configure a test Prometheus.
type PrometheusOptions struct {
	// Targets are host:port addresses scraped at /metrics.
	Targets []string
	// ScrapeInterval of every target [1s].
	ScrapeInterval time.Duration
	// Labels are added to every scraped series (target labels).
	Labels map[string]string
	// JobName is the scrape job, the job label of every series [test].
	JobName string
	// TargetLabelsWin scrapes as a Prometheus Operator ServiceMonitor does by
	// default (honor_labels false): a scraped label that Labels or job also
	// set is renamed exported_<name> and the target's value wins. Without it
	// the scraped labels win (honor_labels true).
	TargetLabelsWin bool
	// Scheme is http or https [http].
	Scheme string
	// CAFile is the PEM file of the CA that signs the targets' certificates (https).
	CAFile string
	// BearerToken is sent with every scrape when set.
	BearerToken string
	// PrometheusBinary overrides the Prometheus binary [bin/k8s/<version>/prometheus, built when missing].
	Binary string
	// StartTimeout bounds the wait until Prometheus is ready [60s].
	StartTimeout time.Duration
	// Recorded is history in the OpenMetrics text format (samples with
	// timestamps, ending in "# EOF"), written into the TSDB before the
	// start with `promtool tsdb create-blocks-from openmetrics`, as an
	// operator backfills recorded metrics: queries at past times read it.
	Recorded string
}

// Prometheus is a running Prometheus.
type Prometheus struct {
	// URL is the base URL of the HTTP API, such as http://127.0.0.1:40123.
	URL string
	// Dir holds the configuration, the TSDB and prometheus.log.
	Dir string

	cmd      *exec.Cmd
	done     chan struct{}
	waitErr  error
	stopOnce sync.Once
}

// StartPrometheus starts Prometheus and stops it when the test ends. It fails the test
// when Prometheus cannot be built or does not become ready.
func StartPrometheus(t testing.TB, opts PrometheusOptions) *Prometheus {
	t.Helper()
	bin := opts.Binary
	if bin == "" {
		var err error
		if bin, err = PrometheusBinary(); err != nil {
			t.Fatalf("Prometheus binary: %v", err)
		}
	}
	dir := t.TempDir()
	if opts.Recorded != "" {
		if err := backfill(dir, opts.Recorded); err != nil {
			t.Fatalf("backfilling Prometheus: %v", err)
		}
	}
	s, err := startPrometheus(bin, dir, opts)
	if err != nil {
		t.Fatalf("starting Prometheus: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stopping Prometheus: %v", err)
		}
	})
	return s
}

func startPrometheus(bin, dir string, opts PrometheusOptions) (*Prometheus, error) {
	if opts.ScrapeInterval <= 0 {
		opts.ScrapeInterval = time.Second
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 60 * time.Second
	}
	if err := writeConfig(dir, opts); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin,
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--web.listen-address="+addr,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--log.level=warn",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	s := &Prometheus{URL: "http://" + addr, Dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() {
		s.waitErr = cmd.Wait()
		logFile.Close()
		close(s.done)
	}()
	if err := s.waitReady(opts.StartTimeout); err != nil {
		_ = s.Stop()
		return nil, fmt.Errorf("%w; log:\n%s", err, s.logTail())
	}
	return s, nil
}

func (s *Prometheus) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("prometheus exited: %v", s.waitErr)
		default:
		}
		resp, err := client.Get(s.URL + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("prometheus not ready after %s", timeout)
}

// Stop stops Prometheus with SIGTERM (SIGKILL after 15s) and waits for it.
func (s *Prometheus) Stop() error {
	var err error
	s.stopOnce.Do(func() {
		select {
		case <-s.done:
			return
		default:
		}
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(15 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
			err = errors.New("prometheus did not stop within 15s of SIGTERM; killed")
		}
	})
	return err
}

// WaitForSeries polls until query returns at least one series or ctx ends.
func (s *Prometheus) WaitForSeries(ctx context.Context, query string) error {
	for {
		n, err := s.count(ctx, query)
		if err == nil && n > 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no series for %s: %w (last error: %v)", query, ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Count returns the number of series query returns now.
func (s *Prometheus) Count(ctx context.Context, query string) (int, error) {
	return s.count(ctx, query)
}

func (s *Prometheus) count(ctx context.Context, query string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/api/v1/query?query="+url.QueryEscape(query), nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, err
	}
	return len(body.Data.Result), nil
}

func (s *Prometheus) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "prometheus.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func writeConfig(dir string, opts PrometheusOptions) error {
	group := map[string]any{"targets": opts.Targets}
	if len(opts.Labels) > 0 {
		group["labels"] = opts.Labels
	}
	cfg := map[string]any{
		"global": map[string]any{
			"scrape_interval":     opts.ScrapeInterval.String(),
			"scrape_timeout":      opts.ScrapeInterval.String(),
			"evaluation_interval": opts.ScrapeInterval.String(),
		},
		"scrape_configs": []any{scrapeConfig(opts, group)},
	}
	data, err := json.MarshalIndent(cfg, "", "  ") // JSON is YAML
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "prometheus.yml"), data, 0o644)
}

func scrapeConfig(opts PrometheusOptions, group map[string]any) map[string]any {
	job := map[string]any{
		"job_name":       "test",
		"honor_labels":   !opts.TargetLabelsWin,
		"static_configs": []any{group},
	}
	if opts.JobName != "" {
		job["job_name"] = opts.JobName
	}
	if opts.Scheme != "" {
		job["scheme"] = opts.Scheme
	}
	if opts.CAFile != "" {
		job["tls_config"] = map[string]any{"ca_file": opts.CAFile}
	}
	if opts.BearerToken != "" {
		job["authorization"] = map[string]any{"type": "Bearer", "credentials": opts.BearerToken}
	}
	return job
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// backfill writes the OpenMetrics history into dir/data, the TSDB
// startPrometheus opens.
func backfill(dir, recorded string) error {
	bin, err := PromtoolBinary()
	if err != nil {
		return err
	}
	in := filepath.Join(dir, "recorded.om")
	if err := os.WriteFile(in, []byte(recorded), 0o644); err != nil {
		return err
	}
	out, err := exec.Command(bin, "tsdb", "create-blocks-from", "openmetrics", in, filepath.Join(dir, "data")).CombinedOutput()
	if err != nil {
		return fmt.Errorf("promtool tsdb create-blocks-from openmetrics: %w: %s", err, out)
	}
	return nil
}

// PromtoolBinary returns the path of promtool in bin/k8s/<version>,
// built as PrometheusBinary builds Prometheus.
func PromtoolBinary() (string, error) {
	dir, err := localcluster.DefaultBinDir()
	if err != nil {
		return "", err
	}
	if err := localcluster.EnsureBinaries(context.Background(), dir, []string{"promtool"}, os.Stderr); err != nil {
		return "", err
	}
	return filepath.Join(dir, "promtool"), nil
}

// PrometheusBinary returns the path of the Prometheus binary in bin/k8s/<version>,
// building it with `hack/build-tools.sh control-plane` when it is missing
// (localcluster.EnsureBinaries: builds are serialised across test processes
// by a lock file, and a binary is built once).
func PrometheusBinary() (string, error) {
	dir, err := localcluster.DefaultBinDir()
	if err != nil {
		return "", err
	}
	if err := localcluster.EnsureBinaries(context.Background(), dir, []string{"prometheus"}, os.Stderr); err != nil {
		return "", err
	}
	return filepath.Join(dir, "prometheus"), nil
}
