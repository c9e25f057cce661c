package controllers

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
)

// profileSeries is one per-profile sample as a scrape sends it. A const
// metric (prometheus.MustNewConstMetric) would build and check its label
// pairs at every scrape; these share the profile's two pairs among its
// series and take the others from a table (pairNamed), which keeps a
// scrape's allocations to about one object per series beyond what the
// registry itself allocates.
type profileSeries struct {
	desc *prometheus.Desc
	// labels are sorted by name, as the registry expects them.
	labels []*dto.LabelPair
	value  float64
}

func (s *profileSeries) Desc() *prometheus.Desc { return s.desc }

func (s *profileSeries) Write(m *dto.Metric) error {
	m.Label = s.labels
	m.Gauge = &dto.Gauge{Value: &s.value}
	return nil
}

// seriesBuilder collects one profile's series for one scrape.
type seriesBuilder struct {
	// only is the family the builder keeps, nil for every family.
	only *prometheus.Desc
	// profile holds the pairs profile and profile_namespace, in this
	// (sorted) order; the values point into the listed profile.
	profile [2]dto.LabelPair
	series  []profileSeries
	labels  []*dto.LabelPair
}

// start sizes b for n series of p (profileCollector.bound).
func (b *seriesBuilder) start(p *tuningv1alpha1.PerformanceProfile, n int) {
	b.series = make([]profileSeries, 0, n)
	b.labels = make([]*dto.LabelPair, 0, 4*n)
	b.profile[0].Name, b.profile[0].Value = &nameProfile, &p.Name
	b.profile[1].Name, b.profile[1].Value = &nameNS, &p.Namespace
}

// add appends a series of desc with the profile's labels and extra, which
// are sorted by name, unless the builder keeps another family.
func (b *seriesBuilder) add(desc *prometheus.Desc, v float64, extra ...*dto.LabelPair) {
	if b.only != nil && desc != b.only {
		return
	}
	start := len(b.labels)
	i := 0
	for ; i < len(extra) && extra[i].GetName() < labelProfile; i++ {
		b.labels = append(b.labels, extra[i])
	}
	b.labels = append(b.labels, &b.profile[0], &b.profile[1])
	b.labels = append(b.labels, extra[i:]...)
	b.series = append(b.series, profileSeries{desc: desc, labels: b.labels[start:len(b.labels):len(b.labels)], value: v})
}

// pairs holds one label pair per name and value the per-profile series
// use (SLI, condition type and status, mode, knob names): a small set,
// shared by every scrape.
var pairs = struct {
	sync.RWMutex
	m map[[2]string]*dto.LabelPair
}{m: map[[2]string]*dto.LabelPair{}}

func pairNamed(name, value string) *dto.LabelPair {
	pairs.RLock()
	lp, ok := pairs.m[[2]string{name, value}]
	pairs.RUnlock()
	if ok {
		return lp
	}
	pairs.Lock()
	defer pairs.Unlock()
	if lp, ok := pairs.m[[2]string{name, value}]; ok {
		return lp
	}
	// Copies of their own, made only here: a pair kept for every scrape
	// points to them.
	n, v := name, value
	lp = &dto.LabelPair{Name: &n, Value: &v}
	pairs.m[[2]string{name, value}] = lp
	return lp
}
