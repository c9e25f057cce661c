package localcluster

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Prometheus reads its targets from one file_sd file per job, so that
// SetScrapeTargets can replace them while it runs (it watches the files).

// promConfig writes prometheus.yml and the target files into dir;
// kubeconfig is the admin kubeconfig pod discovery reads the API with.
func writePrometheusConfig(dir string, p *PrometheusOptions, kubeconfig string) error {
	if err := os.MkdirAll(filepath.Join(dir, "targets"), 0o755); err != nil {
		return err
	}
	jobs := make([]map[string]any, 0, len(p.ScrapeConfigs))
	for _, sc := range p.ScrapeConfigs {
		job := map[string]any{
			"job_name":        sc.JobName,
			"file_sd_configs": []any{map[string]any{"files": []string{targetsFile(dir, sc.JobName)}}},
		}
		if sc.MetricsPath != "" {
			job["metrics_path"] = sc.MetricsPath
		}
		if sc.Interval > 0 {
			job["scrape_interval"] = sc.Interval.String()
			job["scrape_timeout"] = sc.Interval.String()
		}
		jobs = append(jobs, job)
		if err := writeTargets(dir, sc.JobName, sc.Targets, sc.Labels); err != nil {
			return err
		}
	}
	if p.PodDiscovery {
		jobs = append(jobs, podsJob(kubeconfig))
	}
	cfg := map[string]any{
		"global": map[string]any{
			"scrape_interval":     p.ScrapeInterval.String(),
			"scrape_timeout":      p.ScrapeInterval.String(),
			"evaluation_interval": p.ScrapeInterval.String(),
		},
		"scrape_configs": jobs,
	}
	data, err := json.MarshalIndent(cfg, "", "  ") // JSON is YAML
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "prometheus.yml"), data, 0o644)
}

// targetsFile is the file_sd file of a job.
func targetsFile(dir, job string) string {
	return filepath.Join(dir, "targets", job+".json")
}

// writeTargets atomically replaces the targets of a job.
func writeTargets(dir, job string, targets []string, labels map[string]string) error {
	if targets == nil {
		targets = []string{}
	}
	group := map[string]any{"targets": targets}
	if len(labels) > 0 {
		group["labels"] = labels
	}
	data, err := json.Marshal([]any{group})
	if err != nil {
		return err
	}
	path := targetsFile(dir, job)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// SetScrapeTargets replaces the targets of a scrape job given in
// Options.Prometheus; Prometheus picks them up within about a second.
func (c *Cluster) SetScrapeTargets(job string, targets []string) error {
	if c.opts.Prometheus == nil {
		return fmt.Errorf("prometheus is not running")
	}
	for _, sc := range c.opts.Prometheus.ScrapeConfigs {
		if sc.JobName == job {
			return writeTargets(c.promDir(), job, targets, sc.Labels)
		}
	}
	return fmt.Errorf("no scrape job %q", job)
}

// promDir is the directory of Prometheus's configuration and data.
func (c *Cluster) promDir() string { return filepath.Join(c.dir, "prometheus") }

// podsJob discovers annotated pods through the API server (the community
// chart's kubernetes-pods job: keep prometheus.io/scrape="true", address
// from the pod IP and prometheus.io/port, the pod's labels mapped, plus
// namespace, pod and container), skipping pods that have finished.
func podsJob(kubeconfig string) map[string]any {
	return map[string]any{
		"job_name": PodsJob,
		"kubernetes_sd_configs": []any{map[string]any{
			"role":            "pod",
			"kubeconfig_file": kubeconfig,
		}},
		"relabel_configs": []any{
			map[string]any{"source_labels": []string{"__meta_kubernetes_pod_annotation_prometheus_io_scrape"}, "action": "keep", "regex": "true"},
			map[string]any{"source_labels": []string{"__meta_kubernetes_pod_phase"}, "action": "drop", "regex": "(Failed|Succeeded)"},
			map[string]any{"source_labels": []string{"__meta_kubernetes_pod_ip", "__meta_kubernetes_pod_annotation_prometheus_io_port"},
				"action": "replace", "regex": "(.+);([0-9]+)", "replacement": "$1:$2", "target_label": "__address__"},
			map[string]any{"source_labels": []string{"__meta_kubernetes_pod_annotation_prometheus_io_path"},
				"action": "replace", "regex": "(.+)", "target_label": "__metrics_path__"},
			map[string]any{"action": "labelmap", "regex": "__meta_kubernetes_pod_label_(.+)"},
			map[string]any{"source_labels": []string{"__meta_kubernetes_namespace"}, "target_label": "namespace"},
			map[string]any{"source_labels": []string{"__meta_kubernetes_pod_name"}, "target_label": "pod"},
			map[string]any{"source_labels": []string{"__meta_kubernetes_pod_container_name"}, "target_label": "container"},
		},
	}
}
