package scale

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// serverRequests are, from the API server's own apiserver_request_total,
// the write requests it answered on the kinds the manager writes
// (changeCounter's kinds, their subresources included), by outcome: they
// are counted where they land, whatever the writer's own counters say and
// however long the writer keeps writing; and the GETs of ConfigMaps (the
// manager caches none: each read of one is a GET; the harness reads none).
type serverRequests struct {
	ok, refused   float64
	configMapGets float64
}

// writeVerbs are the verbs of apiserver_request_total that write.
var writeVerbs = map[string]bool{"POST": true, "PUT": true, "PATCH": true, "APPLY": true, "DELETE": true}

// writtenResources are the resources changeCounter watches.
var writtenResources = map[string]bool{"performanceprofiles": true, "deployments": true, "statefulsets": true,
	"horizontalpodautoscalers": true, "events": true}

var labelPair = regexp.MustCompile(`([a-z_]+)="([^"]*)"`)

// countServerRequests reads the API server's metrics.
func countServerRequests(ctx context.Context, t *testing.T, cfg *rest.Config) serverRequests {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := cs.RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		t.Fatalf("reading the API server's metrics: %v", err)
	}
	return parseServerRequests(string(raw))
}

func parseServerRequests(text string) serverRequests {
	var w serverRequests
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, "apiserver_request_total{") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		labels := map[string]string{}
		for _, m := range labelPair.FindAllStringSubmatch(line[:i], -1) {
			labels[m[1]] = m[2]
		}
		if labels["verb"] == "GET" && labels["resource"] == "configmaps" {
			w.configMapGets += v
		}
		if !writeVerbs[labels["verb"]] || !writtenResources[labels["resource"]] || labels["dry_run"] != "" {
			continue
		}
		if strings.HasPrefix(labels["code"], "2") {
			w.ok += v
		} else {
			w.refused += v
		}
	}
	return w
}

func (w serverRequests) minus(o serverRequests) serverRequests {
	return serverRequests{ok: w.ok - o.ok, refused: w.refused - o.refused, configMapGets: w.configMapGets - o.configMapGets}
}
