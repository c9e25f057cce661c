package signals

import (
	"math"
	"time"
)

// Packed is an Observation held compactly, for a batch that keeps one per
// profile between reconciles: the values and missing signals in two short
// slices indexed by the signal's place in All() instead of two maps (a map
// of twenty entries costs about 1.5 KB however small its values). Unpack
// gives back the Observation that was packed, value for value.
type Packed struct {
	time    time.Time
	values  []packedValue
	missing []packedMissing
	// other holds what the table does not list (none today): kept as it came.
	other *Observation
}

type packedValue struct {
	value float64
	at    int64 // UnixNano of the sample time; zeroTime for the zero time
	sig   uint8
}

type packedMissing struct {
	Missing
	sig uint8
}

// zeroTime stands for a sample without a time (time.Time{} has no UnixNano).
const zeroTime = math.MinInt64

var signalIndex = func() map[Signal]uint8 {
	m := map[Signal]uint8{}
	for i, s := range All() {
		m[s] = uint8(i)
	}
	return m
}()

var signalTable = All()

// Pack returns the observation held compactly.
func (o Observation) Pack() Packed {
	p := Packed{time: o.Time, values: make([]packedValue, 0, len(o.Values)), missing: make([]packedMissing, 0, len(o.Missing))}
	for s, v := range o.Values {
		i, ok := signalIndex[s]
		if !ok {
			p.keepOther(o.Time).Values[s] = v
			continue
		}
		at := int64(zeroTime)
		if !v.At.IsZero() {
			at = v.At.UnixNano()
		}
		p.values = append(p.values, packedValue{value: v.Value, at: at, sig: i})
	}
	for s, m := range o.Missing {
		i, ok := signalIndex[s]
		if !ok {
			p.keepOther(o.Time).Missing[s] = m
			continue
		}
		p.missing = append(p.missing, packedMissing{Missing: m, sig: i})
	}
	return p
}

func (p *Packed) keepOther(t time.Time) *Observation {
	if p.other == nil {
		o := NewObservation(t)
		p.other = &o
	}
	return p.other
}

// Time is when the packed observation was made.
func (p Packed) Time() time.Time { return p.time }

// Unpack returns the observation as it was packed (a new copy each time:
// the caller may change it).
func (p Packed) Unpack() Observation {
	o := Observation{Time: p.time, Values: make(map[Signal]Value, len(p.values)), Missing: make(map[Signal]Missing, len(p.missing))}
	for _, v := range p.values {
		at := time.Time{}
		if v.at != zeroTime {
			at = time.Unix(0, v.at).In(p.time.Location()) // a sample's time reads as the observation's
		}
		o.Values[signalTable[v.sig]] = Value{Value: v.value, At: at}
	}
	for _, m := range p.missing {
		o.Missing[signalTable[m.sig]] = m.Missing
	}
	if p.other != nil {
		for s, v := range p.other.Values {
			o.Values[s] = v
		}
		for s, m := range p.other.Missing {
			o.Missing[s] = m
		}
	}
	return o
}
