package signals

import (
	"testing"
	"time"
	"unsafe"
)

// A packed observation unpacks to the one packed: every value with its
// sample time (none included), every missing signal with its reason and
// message, and a signal outside the table.
func TestPackedRoundTrip(t *testing.T) {
	at := time.Date(2026, 12, 7, 3, 0, 0, 123456789, time.UTC)
	o := NewObservation(at)
	for i, s := range All() {
		switch i % 3 {
		case 0:
			o.Set(s, float64(i)+0.25, at.Add(-time.Duration(i)*time.Second))
		case 1:
			o.SetMissing(s, ReasonStale, "newest sample is old")
		}
	}
	o.Values[LatencyMean] = Value{Value: 0.03} // no sample time
	o.Set("somethingNew", 7, at)
	o.SetMissing("otherNew", ReasonEmpty, "")

	got := o.Pack().Unpack()
	if !got.Time.Equal(o.Time) || len(got.Values) != len(o.Values) || len(got.Missing) != len(o.Missing) {
		t.Fatalf("unpacked %d values and %d missing at %v, want %d and %d at %v", len(got.Values), len(got.Missing), got.Time, len(o.Values), len(o.Missing), o.Time)
	}
	for s, v := range o.Values {
		g, ok := got.Values[s]
		if !ok || g.Value != v.Value || g.At != v.At || g.At.IsZero() != v.At.IsZero() {
			t.Errorf("%s: unpacked %+v (%v), want %+v", s, g, ok, v)
		}
	}
	for s, m := range o.Missing {
		if got.Missing[s] != m {
			t.Errorf("%s: unpacked missing %+v, want %+v", s, got.Missing[s], m)
		}
	}
	// An observation made now (with the clock's monotonic reading) of
	// samples read from Prometheus, one of them far older than a word's
	// offset holds, unpacks to the same times.
	now := time.Now()
	o = NewObservation(now)
	o.Set(LatencyP99, 0.2, time.Unix(0, int64(float64(now.Unix()-15)*1e9+0.123e9)))
	o.Set(ErrorRate, 0.01, now.Add(-500*24*time.Hour).Round(0))
	o.SetMissing(PoolMax, ReasonEmpty, "no series")
	got = o.Pack().Unpack()
	for s, v := range o.Values {
		if g := got.Values[s]; g != v {
			t.Errorf("%s: unpacked %+v, want %+v", s, g, v)
		}
	}
	if got.Missing[PoolMax] != o.Missing[PoolMax] {
		t.Errorf("unpacked missing %+v, want %+v", got.Missing[PoolMax], o.Missing[PoolMax])
	}
	if size := unsafe.Sizeof(packedValue{}) + unsafe.Sizeof(packedMissing{}); size > 32 {
		t.Errorf("a packed value and a missing signal take %d bytes, more than 32", size)
	}

	// The copy is the caller's: changing it leaves the packed one as it was.
	p := o.Pack()
	u := p.Unpack()
	u.SetMissing(LatencyP99, ReasonNaN, "changed")
	if _, ok := p.Unpack().Values[LatencyP99]; !ok {
		t.Error("changing an unpacked copy changed the packed observation")
	}
}
