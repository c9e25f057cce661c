package prom

import (
	"fmt"
	"math"
	"testing"
	"unsafe"

	"github.com/prometheus/common/model"
)

// TestIndexGivesBackThePointsItFiled: the index holds each point compactly
// (an index holds every kept point of an answer until the refresh has read
// every target) and gives every field back as it was filed, by target and
// part in the answer's order: the value, NaN included, the time, the bucket
// bound and a bound that was not a number, the cache tier and result, and
// the container, also past the last number its table holds.
func TestIndexGivesBackThePointsItFiled(t *testing.T) {
	if size := unsafe.Sizeof(filed{}); size > 32 {
		t.Errorf("an index entry takes %d bytes, more than 32", size)
	}
	ids := map[string]int32{"a": 0, "b": 1}
	ix := newIndex(ids, 0)
	want := map[string][]point{}
	add := func(key string, part string, p point) {
		if _, ok := knownParts[part]; !ok {
			t.Fatalf("%q is not a known part", part)
		}
		ix.add(ids[key], knownParts[part], p)
		want[key+"/"+part] = append(want[key+"/"+part], p)
	}
	add("a", "bucket", point{Value: 3, At: model.Time(1700000000123), LE: 0.005})
	add("b", "bucket", point{Value: math.NaN(), At: model.Time(1700000000124), LE: math.Inf(+1)})
	add("a", "bucket", point{Value: 4, At: model.Time(1700000000125), BadLE: true})
	add("a", "cache", point{Value: 0.5, Tier: tierRedis, Result: resultMiss})
	add("a", "cache", point{Value: 0.25, Tier: tierMemory, Result: resultHit})
	add("b", "cpu_usage", point{Value: 2, Container: "app"})
	add("b", "cpu_usage", point{Value: 1})
	// Past the table's last number, containers are held by entry.
	for i := range overflowContainer + 2 {
		add("b", "cpu_requests", point{Value: float64(i), Container: fmt.Sprintf("c%d", i)})
	}
	add("a", "cpu_usage", point{Value: 7, Container: "app"})

	for _, key := range []string{"a", "b"} {
		parts := ix.parts(key)
		got := 0
		for part, s := range parts {
			w := want[key+"/"+part]
			if len(s) != len(w) {
				t.Fatalf("%s/%s: %d points, want %d", key, part, len(s), len(w))
			}
			for i := range s {
				if !samePoint(s[i], w[i]) {
					t.Errorf("%s/%s[%d] = %+v, want %+v", key, part, i, s[i], w[i])
				}
			}
			got += len(s)
		}
		for k, w := range want {
			if k[:len(key)+1] == key+"/" {
				got -= len(w)
			}
		}
		if got != 0 {
			t.Errorf("%s: %d points more than filed", key, got)
		}
	}
}

func samePoint(a, b point) bool {
	sameFloat := func(x, y float64) bool { return x == y || math.IsNaN(x) && math.IsNaN(y) }
	return sameFloat(a.Value, b.Value) && sameFloat(a.LE, b.LE) && a.At == b.At && a.BadLE == b.BadLE &&
		a.Tier == b.Tier && a.Result == b.Result && a.Container == b.Container
}
