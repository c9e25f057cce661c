package metrics

import (
	"math"
	"slices"
	"sort"
)

// bucket is one cumulative histogram bucket: the number (or rate) of
// observations at or below UpperBound.
type bucket struct {
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
// (unless the first bound is <= 0), and the highest finite bound returned when
// the rank falls into the +Inf bucket. It returns NaN when the quantile is
// undefined: no +Inf bucket, fewer than two buckets, or no observations.
func bucketQuantile(q float64, in []bucket) float64 {
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
	slices.SortFunc(buckets, func(a, b bucket) int {
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
		return buckets[len(buckets)-2].UpperBound
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

func coalesceBuckets(buckets []bucket) []bucket {
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
func ensureMonotonic(buckets []bucket) {
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

// BucketQuantile is bucketQuantile for callers outside the package (tests
// that compute the expected value of a known histogram). upperBounds and
// cumulative counts are parallel slices; the last bound must be +Inf.
func BucketQuantile(q float64, upperBounds, counts []float64) float64 {
	bs := make([]bucket, len(upperBounds))
	for i := range upperBounds {
		bs[i] = bucket{UpperBound: upperBounds[i], Count: counts[i]}
	}
	return bucketQuantile(q, bs)
}
