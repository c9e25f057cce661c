package scale

import (
	"testing"
	"time"
)

// The API server's request counter gives the writes on the manager's kinds,
// by outcome, leaving out reads, dry runs and other resources, and the
// GETs of ConfigMaps.
func TestParseServerRequests(t *testing.T) {
	text := `# HELP apiserver_request_total x
apiserver_request_total{code="200",component="apiserver",dry_run="",group="apps",resource="deployments",scope="resource",subresource="",verb="APPLY",version="v1"} 7
apiserver_request_total{code="200",component="apiserver",dry_run="",group="tuning.navius.io",resource="performanceprofiles",scope="resource",subresource="status",verb="PATCH",version="v1alpha1"} 5
apiserver_request_total{code="409",component="apiserver",dry_run="",group="tuning.navius.io",resource="performanceprofiles",scope="resource",subresource="status",verb="PATCH",version="v1alpha1"} 2
apiserver_request_total{code="201",component="apiserver",dry_run="",group="events.k8s.io",resource="events",scope="resource",subresource="",verb="POST",version="v1"} 3
apiserver_request_total{code="200",component="apiserver",dry_run="",group="apps",resource="deployments",scope="resource",subresource="",verb="GET",version="v1"} 100
apiserver_request_total{code="200",component="apiserver",dry_run="All",group="apps",resource="deployments",scope="resource",subresource="",verb="APPLY",version="v1"} 9
apiserver_request_total{code="200",component="apiserver",dry_run="",group="coordination.k8s.io",resource="leases",scope="resource",subresource="",verb="PUT",version="v1"} 50
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="configmaps",scope="resource",subresource="",verb="GET",version="v1"} 11
apiserver_request_total{code="404",component="apiserver",dry_run="",group="",resource="configmaps",scope="resource",subresource="",verb="GET",version="v1"} 1
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="configmaps",scope="namespace",subresource="",verb="LIST",version="v1"} 4
apiserver_request_total{code="201",component="apiserver",dry_run="",group="",resource="configmaps",scope="resource",subresource="",verb="POST",version="v1"} 6
`
	w := parseServerRequests(text)
	if w.ok != 15 || w.refused != 2 || w.configMapGets != 12 {
		t.Errorf("got %+v, want 15 written, 2 refused and 12 ConfigMap GETs", w)
	}
}

// The peak write rate is the steepest rise of the count over at least the
// window, from the start or from a sample.
func TestPeakRate(t *testing.T) {
	s := func(sec, n float64) sample { return sample{time.Duration(sec * float64(time.Second)), n} }
	cum := []sample{s(1, 10), s(2, 20), s(5, 50), s(12, 1050), s(13, 1060), s(30, 1100)}
	// 50 → 1060 between 5 s and 13 s is under 10 s; 20 → 1060 between 2 s and 13 s: 94.5/s;
	// 0 → 1050 from the start to 12 s: 87.5/s; 20 → 1050 between 2 s and 12 s: 103/s.
	if got, want := peakRate(cum, 10*time.Second), 103.0; got != want {
		t.Errorf("peak rate %v, want %v", got, want)
	}
	if got := peakRate(cum[:3], 10*time.Second); got != 10 {
		t.Errorf("peak rate over 5 s, less than the window: %v, want the mean, 10", got)
	}
}
