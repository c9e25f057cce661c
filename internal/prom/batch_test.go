package prom

import (
	"slices"
	"testing"
)

// An index returns each target's points by part in the answer's order,
// whatever the order the targets' points came in, and nothing for a target
// without points or a key it does not number.
func TestIndexFilesPointsByTargetAndPart(t *testing.T) {
	ids := map[string]int32{"a": 0, "b": 1, "c": 2}
	ix := newIndex(ids, 0)
	pt := func(v float64) point { return point{Value: v} }
	bucket, sum := knownParts["bucket"], knownParts["sum"]
	for _, f := range []struct {
		id   int32
		part uint8
		v    float64
	}{{0, bucket, 1}, {1, bucket, 10}, {0, sum, 5}, {0, bucket, 2}, {1, sum, 50}, {0, bucket, 3}} {
		ix.add(f.id, f.part, pt(f.v))
	}
	values := func(ss series) []float64 {
		var out []float64
		for _, p := range ss {
			out = append(out, p.Value)
		}
		return out
	}
	a := ix.parts("a")
	if got := values(a["bucket"]); !slices.Equal(got, []float64{1, 2, 3}) || !slices.Equal(values(a["sum"]), []float64{5}) || len(a) != 2 {
		t.Errorf("a: bucket %v sum %v (%d parts), want [1 2 3] [5] (2 parts)", got, values(a["sum"]), len(a))
	}
	b := ix.parts("b") // the index's own map, refilled: a's parts are gone
	if got := values(b["bucket"]); !slices.Equal(got, []float64{10}) || !slices.Equal(values(b["sum"]), []float64{50}) || len(b) != 2 {
		t.Errorf("b: bucket %v sum %v (%d parts), want [10] [50] (2 parts)", got, values(b["sum"]), len(b))
	}
	if ix.parts("c") != nil || ix.parts("unknown") != nil || newIndex(ids, 0).parts("a") != nil || (*index)(nil).parts("a") != nil {
		t.Error("a target without points, an unknown key, an empty index or none returned parts")
	}
}

// A client remembers the points each batch answer of the last refresh kept,
// by query, and nothing of an earlier refresh's queries, of an override
// (which keeps no index) or of a failed answer (no index).
func TestClientRemembersTheLastRefreshsAnswerSizes(t *testing.T) {
	wanted := func(*index, map[string]string, point) {}
	answered := func(q string, n int) *job {
		j := &job{query: q, wanted: wanted, ix: newIndex(nil, 0)}
		j.ix.entries = make([]filed, n)
		return j
	}
	c := &promClient{}
	c.rememberKept([]*job{answered("latency of a|b", 20), answered("pool of a|b", 4)})
	if got := c.keptBefore("latency of a|b"); got != 20 {
		t.Errorf("after the first refresh: %d points for the latency query, want 20", got)
	}
	override := &job{query: "override", ix: newIndex(nil, 0)}
	failed := &job{query: "pool of a|b|c", wanted: wanted}
	c.rememberKept([]*job{answered("latency of a|b|c", 30), override, failed})
	for q, want := range map[string]int{"latency of a|b|c": 30, "latency of a|b": 0, "pool of a|b": 0, "override": 0, "pool of a|b|c": 0} {
		if got := c.keptBefore(q); got != want {
			t.Errorf("after the second refresh: %d points for %q, want %d", got, q, want)
		}
	}
	if len(c.kept) != 1 {
		t.Errorf("the client holds %d sizes, want only the last refresh's answered batch query", len(c.kept))
	}
}
