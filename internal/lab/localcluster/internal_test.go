package localcluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestCompress(t *testing.T) {
	for _, tc := range []struct {
		factor   float64
		d, floor time.Duration
		want     time.Duration
	}{
		{1, 15 * time.Second, time.Second, 15 * time.Second},
		{15, 15 * time.Second, time.Second, time.Second},
		{60, 15 * time.Second, time.Second, time.Second},
		{10, 5 * time.Minute, time.Second, 30 * time.Second},
		{3, time.Second, 0, 333 * time.Millisecond},
	} {
		g := NewWithT(t)
		g.Expect(Options{TimeCompression: tc.factor}.compress(tc.d, tc.floor)).To(Equal(tc.want), "%+v", tc)
	}
}

func TestWithDefaults(t *testing.T) {
	g := NewWithT(t)
	o, err := Options{TimeCompression: 10, Prometheus: &PrometheusOptions{}}.withDefaults()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(o.BinDir).To(HaveSuffix(filepath.Join("bin", "k8s", KubernetesVersion)))
	g.Expect(o.Nodes).To(Equal(1))
	g.Expect(o.NodeCPU.String()).To(Equal("16"))
	g.Expect(o.Prometheus.ScrapeInterval).To(Equal(time.Second))
	g.Expect(o.binaries()).To(ConsistOf("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "prometheus"))
}

func TestMissingBinaries(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	g.Expect(os.WriteFile(filepath.Join(dir, "exe"), nil, 0o755)).To(Succeed())
	g.Expect(os.WriteFile(filepath.Join(dir, "plain"), nil, 0o644)).To(Succeed())
	g.Expect(missingBinaries(dir, []string{"exe", "plain", "absent"})).To(Equal([]string{"plain", "absent"}))
}

func TestKwokStages(t *testing.T) {
	g := NewWithT(t)
	path := filepath.Join(t.TempDir(), "stages.yaml")
	g.Expect(writeKwokStages(path)).To(Succeed())
	data, err := os.ReadFile(path)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(strings.Count(string(data), "kind: Stage\n")).To(Equal(5))
	for _, name := range []string{"node-initialize", "node-heartbeat", "pod-ready", "pod-complete", "pod-delete"} {
		g.Expect(string(data)).To(ContainSubstring("name: "+name+"\n"), name)
	}
}

func TestProcStats(t *testing.T) {
	g := NewWithT(t)
	rss, cpu, err := procStats(os.Getpid())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(rss).To(BeNumerically(">", 1<<20))
	g.Expect(cpu).To(BeNumerically(">=", 0))
}

func TestPrometheusConfig(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	g.Expect(writePrometheusConfig(dir, &PrometheusOptions{
		ScrapeInterval: 2 * time.Second,
		ScrapeConfigs:  []ScrapeConfig{{JobName: "sim", Targets: []string{"127.0.0.1:9"}, Interval: time.Second}},
	}, "")).To(Succeed())
	cfg, err := os.ReadFile(filepath.Join(dir, "prometheus.yml"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(cfg)).To(ContainSubstring(`"scrape_interval": "2s"`))
	targets, err := os.ReadFile(targetsFile(dir, "sim"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(targets)).To(Equal(`[{"targets":["127.0.0.1:9"]}]`))
}
