package prom

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/navius-dev/navius-tuner/internal/signals"
)

// Bucket is one cumulative histogram bucket: the number (or rate) of
// observations at or below UpperBound.
type Bucket struct {
	UpperBound float64
	Count      float64
}

// smallDeltaTolerance is the relative difference between neighbouring bucket
// counts that Prometheus treats as floating-point noise.
const smallDeltaTolerance = 1e-12

// bucketQuantile computes the q-quantile of cumulative buckets exactly as
// Prometheus' histogram_quantile does for classic histograms (promql
// BucketQuantile in Prometheus v3): buckets sorted by upper bound, equal
// bounds coalesced, counts forced monotonic, linear interpolation inside the
// bucket that holds the rank, the lower bound of the first bucket taken as 0
// (unless the first bound is <= 0). One difference: when the rank falls into
// the +Inf bucket it returns +Inf, where Prometheus returns the highest finite
// bound. The quantile is then known to be above that bound and nothing more;
// reading it as the bound would make an outage meet every objective at or
// above it. It returns NaN when the quantile is undefined: no +Inf bucket,
// fewer than two buckets, or no observations.
func bucketQuantile(q float64, in []Bucket) float64 {
	switch {
	case math.IsNaN(q):
		return math.NaN()
	case q < 0:
		return math.Inf(-1)
	case q > 1:
		return math.Inf(+1)
	case len(in) == 0:
		return math.NaN()
	}
	buckets := slices.Clone(in)
	slices.SortFunc(buckets, func(a, b Bucket) int {
		switch {
		case a.UpperBound < b.UpperBound:
			return -1
		case a.UpperBound > b.UpperBound:
			return 1
		}
		return 0
	})
	if !math.IsInf(buckets[len(buckets)-1].UpperBound, +1) {
		return math.NaN()
	}
	buckets = coalesceBuckets(buckets)
	ensureMonotonic(buckets)
	if len(buckets) < 2 {
		return math.NaN()
	}
	observations := buckets[len(buckets)-1].Count
	if observations == 0 {
		return math.NaN()
	}
	rank := q * observations
	b := sort.Search(len(buckets)-1, func(i int) bool { return buckets[i].Count >= rank })
	switch {
	case b == len(buckets)-1:
		return math.Inf(+1)
	case b == 0 && buckets[0].UpperBound <= 0:
		return buckets[0].UpperBound
	}
	var (
		start float64
		end   = buckets[b].UpperBound
		count = buckets[b].Count
	)
	if b > 0 {
		start = buckets[b-1].UpperBound
		count -= buckets[b-1].Count
		rank -= buckets[b-1].Count
	}
	return start + (end-start)*(rank/count)
}

func coalesceBuckets(buckets []Bucket) []Bucket {
	last := buckets[0]
	i := 0
	for _, b := range buckets[1:] {
		if b.UpperBound == last.UpperBound {
			last.Count += b.Count
			continue
		}
		buckets[i] = last
		last = b
		i++
	}
	buckets[i] = last
	return buckets[:i+1]
}

// ensureMonotonic ignores numerically insignificant differences between
// neighbouring buckets and removes every decrease, as Prometheus does.
func ensureMonotonic(buckets []Bucket) {
	prev := buckets[0].Count
	for i := 1; i < len(buckets); i++ {
		curr := buckets[i].Count
		switch {
		case curr == prev:
		case almostEqual(prev, curr, smallDeltaTolerance), curr < prev:
			buckets[i].Count = prev
		default:
			prev = curr
		}
	}
}

// almostEqual is Prometheus' util/almost.Equal.
func almostEqual(a, b, epsilon float64) bool {
	const minNormal = 2.2250738585072014e-308 // 1 / 2**(1022)
	if math.IsNaN(a) && math.IsNaN(b) {
		return true
	}
	if a == b {
		return true
	}
	absSum := math.Abs(a) + math.Abs(b)
	diff := math.Abs(a - b)
	if a == 0 || b == 0 || absSum < minNormal {
		return diff < epsilon*minNormal
	}
	return diff/math.Min(absSum, math.MaxFloat64) < epsilon
}

// minObservations is how many observations a window needs before its
// q-quantile counts: 10/(1−q), so that about ten of them lie above the
// quantile (20 for p50, 1,000 for p99, 10,000 for p99.9). Fewer, and one slow
// request moves the percentile across any threshold.
func minObservations(q float64) float64 {
	// The small epsilon keeps 10/(1−0.99) = 1000.0000000000009 at 1,000.
	return math.Ceil(10/(1-q) - 1e-6)
}

// usefulBoundShare: a histogram measures a latency objective only when it
// has a bucket bound between this share of the threshold and the threshold.
// Linear interpolation inside a wider bucket decides a breach by guess.
// Prometheus' default buckets, whose neighbours differ by at most 2.5×, pass
// for every threshold between their first and last bound.
const usefulBoundShare = 0.4

// coarseFor says why the bucket bounds cannot measure a latency threshold
// (in seconds), or "" when they can: the highest finite bound must lie above
// the threshold (or a breach could not be told from a met objective), and
// some bound must lie within [0.4 × threshold, threshold].
func coarseFor(bounds []float64, threshold float64) string {
	top, near := math.Inf(-1), false
	for _, b := range bounds {
		if math.IsInf(b, 0) {
			continue
		}
		top = max(top, b)
		if b >= usefulBoundShare*threshold && b <= threshold {
			near = true
		}
	}
	switch {
	case top <= threshold:
		return fmt.Sprintf("the highest finite bucket bound (le=%g) is not above the objective's threshold %gs: a breach cannot be measured", top, threshold)
	case !near:
		return fmt.Sprintf("no bucket bound between %gs and the objective's threshold %gs: the percentile is not precise enough to judge it", usefulBoundShare*threshold, threshold)
	}
	return ""
}

// Percentile is the one rule for reading a q-quantile from a window's
// histogram: the bucket bounds must be able to measure the objective's
// threshold (seconds; NaN when the percentile has no objective), the window
// must hold at least minObservations(q) requests (observations < 0: unknown),
// and a rank in the +Inf bucket reads +Inf, a breach of any threshold. It
// returns the value, or the reason it is missing and a message. The
// benchmarks' emulated Prometheus calls it for the navius histogram; the
// reader calls percentileOf, the same rule for any histogram (a preset's, a
// latency histogram in milliseconds once scaled, the pool wait's).
func Percentile(q float64, buckets []Bucket, observations, threshold float64, window time.Duration) (float64, signals.Reason, string) {
	return percentileOf(q, buckets, observations, threshold, window, navius.latency.name, "requests")
}

// percentileOf is Percentile for the histogram named name, whose
// observations are counted as what (requests, connection acquisitions).
func percentileOf(q float64, buckets []Bucket, observations, threshold float64, window time.Duration, name, what string) (float64, signals.Reason, string) {
	bounds := make([]float64, len(buckets))
	for i, b := range buckets {
		bounds[i] = b.UpperBound
	}
	coarse := ""
	if !math.IsNaN(threshold) {
		coarse = coarseFor(bounds, threshold)
	}
	switch {
	case len(buckets) == 0:
		return 0, signals.ReasonEmpty, "no " + name + "_bucket series"
	case coarse != "":
		return 0, signals.ReasonBucketsTooCoarse, coarse
	case observations >= 0 && observations < minObservations(q):
		return 0, signals.ReasonTooFewSamples, fmt.Sprintf("%.0f %s in the %s window; the percentile needs at least %.0f",
			observations, what, promDuration(window), minObservations(q))
	}
	v := bucketQuantile(q, buckets)
	if math.IsNaN(v) {
		return 0, signals.ReasonNaN, "no " + what + " in the window or no +Inf bucket"
	}
	return v, "", ""
}

// BucketQuantile is bucketQuantile for callers outside the package (tests
// that compute the expected value of a known histogram). upperBounds and
// cumulative counts are parallel slices; the last bound must be +Inf.
func BucketQuantile(q float64, upperBounds, counts []float64) float64 {
	bs := make([]Bucket, len(upperBounds))
	for i := range upperBounds {
		bs[i] = Bucket{UpperBound: upperBounds[i], Count: counts[i]}
	}
	return bucketQuantile(q, bs)
}
