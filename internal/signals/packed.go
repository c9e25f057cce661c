package signals

import (
	"time"
	"unique"
)

// Packed is an Observation held compactly, for a batch that keeps one per
// profile between reconciles (and two while the next is read): the values
// and missing signals in two short slices of 16-byte entries indexed by the
// signal's place in All() instead of two maps (a map of twenty entries
// costs about 1.5 KB however small its values). Unpack gives back the
// Observation that was packed, value for value.
type Packed struct {
	time    time.Time
	values  []packedValue
	missing []packedMissing
	// other holds what the table does not list (none today), and a value
	// whose sample time is too far from the observation's: kept as it came.
	other *Observation
}

// packedValue is a value, and in one word the signal and the sample time
// as nanoseconds from the observation's time (sigBits low bits: the
// signal's place in All(); the rest: the offset, zeroOffset for a sample
// without a time).
type packedValue struct {
	value float64
	word  int64
}

// packedMissing is a missing signal: its reason and message are shared
// with every other observation missing a signal for the same reason and
// message (unique), the same few sentences for every profile of a shape.
type packedMissing struct {
	missing unique.Handle[Missing]
	sig     uint8
}

const (
	sigBits = 8
	// maxOffset bounds the offset a word holds (about 416 days each way);
	// zeroOffset, just below it, stands for a sample without a time.
	maxOffset  = 1<<(63-sigBits) - 1
	zeroOffset = -maxOffset - 1
)

var signalIndex = func() map[Signal]uint8 {
	if len(All()) > 1<<sigBits {
		panic("signals: more signals than a packed value's signal bits number")
	}
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
		offset, near := offsetOf(o.Time, v.At)
		if !ok || !near {
			p.keepOther(o.Time).Values[s] = v
			continue
		}
		p.values = append(p.values, packedValue{value: v.Value, word: offset<<sigBits | int64(i)})
	}
	for s, m := range o.Missing {
		i, ok := signalIndex[s]
		if !ok {
			p.keepOther(o.Time).Missing[s] = m
			continue
		}
		p.missing = append(p.missing, packedMissing{missing: unique.Make(m), sig: i})
	}
	return p
}

// offsetOf is a sample's time as nanoseconds from the observation's time
// at; near is false when a word cannot hold it.
func offsetOf(at, sample time.Time) (offset int64, near bool) {
	if sample.IsZero() {
		return zeroOffset, true
	}
	if at.IsZero() {
		return 0, false
	}
	// On the wall clocks: Unpack adds the offset to the observation's wall
	// time, and Sub would take a monotonic difference where both have one.
	d := sample.Round(0).Sub(at.Round(0))
	if d <= zeroOffset || d > maxOffset {
		return 0, false // also a duration Sub saturated
	}
	return int64(d), true
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
		offset, i := v.word>>sigBits, uint8(v.word&(1<<sigBits-1))
		at := time.Time{}
		if offset != zeroOffset {
			// A sample's time reads as the observation's (its location), and
			// like a sample's, without a monotonic clock reading.
			at = p.time.Round(0).Add(time.Duration(offset))
		}
		o.Values[signalTable[i]] = Value{Value: v.value, At: at}
	}
	for _, m := range p.missing {
		o.Missing[signalTable[m.sig]] = m.missing.Value()
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
