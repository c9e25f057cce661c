package prom

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// point is what the extractors read of one series: its value, its sample
// time and the few labels they look at, in as few bytes as they allow. The
// decoder keeps nothing else of a series, so a large answer costs the memory
// of what is used, never of its JSON: a hostile label value is read and
// dropped.
type point struct {
	Value float64
	At    model.Time
	// LE is the bucket bound (the le label); BadLE is set when the label is
	// present and not a number.
	LE    float64
	BadLE bool
	// Tier and Result are the cache labels tier and result.
	Tier   cacheTier
	Result cacheResult
	// Container is the container label (one copy of each value in an index).
	Container string
}

type cacheTier uint8

const (
	tierOther cacheTier = iota
	tierMemory
	tierRedis
)

type cacheResult uint8

const (
	resultOther cacheResult = iota
	resultHit
	resultMiss
)

// newPoint reads the labels the extractors use.
func newPoint(metric map[string]string, p pair) point {
	pt := point{Value: float64(p.v), At: p.t, Container: metric["container"]}
	if !p.set { // a native histogram sample, or none: no usable number
		pt.Value = math.NaN()
	}
	if le, ok := metric["le"]; ok {
		f, err := strconv.ParseFloat(le, 64)
		pt.LE, pt.BadLE = f, err != nil
	}
	switch metric["tier"] {
	case "memory":
		pt.Tier = tierMemory
	case "redis":
		pt.Tier = tierRedis
	}
	switch metric["result"] {
	case "hit":
		pt.Result = resultHit
	case "miss":
		pt.Result = resultMiss
	}
	return pt
}

// series are the points of one part of a batch answer for one target.
type series []point

// keepFunc receives each series of an answer as it is decoded. The metric map
// is reused for the next series: copy what must outlive the call.
type keepFunc func(metric map[string]string, p point)

// errTooManySeries stops the decoding of an answer beyond its series cap.
var errTooManySeries = errors.New("too many series")

// decodeAnswer reads a /api/v1/query answer as a stream: each series is
// decoded on its own, handed to keep and forgotten, so the answer is never
// held in memory as a whole (client_golang's Query holds the body, then a
// copy of its data, then a model.Vector of every series with all its labels).
// It stops at the first series beyond maxSeries. The answer's envelope is
// Prometheus' (status, data.resultType, data.result, errorType, error); an
// error envelope is returned as a *promv1.Error, as client_golang does, so
// that classify treats both alike.
func decodeAnswer(r io.Reader, maxSeries int, keep keepFunc) error {
	body := &readErr{r: r}
	d := &answerDecoder{dec: json.NewDecoder(body), max: maxSeries, keep: keep}
	err := d.envelope()
	var apiErr *promv1.Error
	switch {
	case err == nil || errors.Is(err, errTooManySeries) || errors.As(err, &apiErr):
		return err
	case body.err != nil:
		// The body could not be read (too large, connection lost, canceled):
		// not a malformed answer, classify says what it is.
		return body.err
	}
	return &promv1.Error{Type: promv1.ErrBadResponse, Msg: err.Error()}
}

// readErr remembers the error of the reader under the decoder, other than EOF.
type readErr struct {
	r   io.Reader
	err error
}

func (b *readErr) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		b.err = err
	}
	return n, err
}

type answerDecoder struct {
	dec  *json.Decoder
	max  int
	keep keepFunc
	n    int
	// resultType is set once data.resultType was read.
	resultType string
}

// envelope reads {"status": …, "data": {…}, "errorType": …, "error": …}.
func (d *answerDecoder) envelope() error {
	if err := d.delim('{'); err != nil {
		return err
	}
	var status, errType, errMsg string
	sawData := false
	for d.dec.More() {
		key, err := d.key()
		if err != nil {
			return err
		}
		switch key {
		case "status":
			err = d.dec.Decode(&status)
		case "errorType":
			err = d.dec.Decode(&errType)
		case "error":
			err = d.dec.Decode(&errMsg)
		case "data":
			sawData = true
			err = d.data()
		default: // warnings, infos and anything newer
			err = d.skip()
		}
		if err != nil {
			return err
		}
	}
	if err := d.delim('}'); err != nil {
		return err
	}
	switch {
	case status == "error":
		return &promv1.Error{Type: promv1.ErrorType(errType), Msg: errMsg}
	case status != "success":
		return fmt.Errorf("status %q, want success or error", status)
	case !sawData || d.resultType == "":
		return errors.New("no data.resultType in a successful answer")
	}
	return nil
}

// data reads {"resultType": …, "result": […]}.
func (d *answerDecoder) data() error {
	if err := d.delim('{'); err != nil {
		return err
	}
	var early *earlyResult
	for d.dec.More() {
		key, err := d.key()
		if err != nil {
			return err
		}
		switch key {
		case "resultType":
			err = d.dec.Decode(&d.resultType)
		case "result":
			if d.resultType == "" {
				early, err = d.resultBeforeType()
			} else {
				err = d.result()
			}
		default:
			err = d.skip()
		}
		if err != nil {
			return err
		}
	}
	if early != nil {
		if err := d.finish(early); err != nil {
			return err
		}
	}
	return d.delim('}')
}

// element is one series of a vector. It is reused from series to series:
// its map is cleared rather than reallocated.
type element struct {
	Metric map[string]string `json:"metric"`
	Value  pair              `json:"value"`
}

func (e *element) reset() {
	if e.Metric == nil { // after "metric": null
		e.Metric = map[string]string{}
	}
	clear(e.Metric)
	e.Value = pair{}
}

// result reads data.result once the result type is known: a vector element
// by element, or a scalar.
func (d *answerDecoder) result() error {
	switch d.resultType {
	case "scalar":
		var p pair
		if err := d.dec.Decode(&p); err != nil {
			return err
		}
		return d.add(map[string]string{}, p)
	case "vector":
	default:
		return fmt.Errorf("result type %s, want an instant vector", d.resultType)
	}
	if err := d.delim('['); err != nil {
		return err
	}
	var e element
	for d.dec.More() {
		e.reset()
		if err := d.dec.Decode(&e); err != nil {
			return err
		}
		if err := d.add(e.Metric, e.Value); err != nil {
			return err
		}
	}
	return d.delim(']')
}

// earlyResult is what resultBeforeType read.
type earlyResult struct {
	series bool
	// scalar holds the elements of a [time, "value"] result.
	scalar []json.RawMessage
}

// resultBeforeType reads data.result when resultType comes after it (an
// encoder that sorts keys; Prometheus writes resultType first). Each element
// is still read on its own: an object is a series, anything else is a part
// of a scalar, checked against resultType once it is known.
func (d *answerDecoder) resultBeforeType() (*earlyResult, error) {
	if err := d.delim('['); err != nil {
		return nil, err
	}
	out := &earlyResult{}
	var e element
	for d.dec.More() {
		var raw json.RawMessage
		if err := d.dec.Decode(&raw); err != nil {
			return nil, err
		}
		if len(raw) > 0 && raw[0] == '{' {
			out.series = true
			e.reset()
			if err := json.Unmarshal(raw, &e); err != nil {
				return nil, err
			}
			if err := d.add(e.Metric, e.Value); err != nil {
				return nil, err
			}
			continue
		}
		if len(out.scalar) == 2 {
			return nil, errors.New("a scalar result with more than two elements")
		}
		out.scalar = append(out.scalar, raw)
	}
	return out, d.delim(']')
}

// finish checks what resultBeforeType read against the result type.
func (d *answerDecoder) finish(early *earlyResult) error {
	switch d.resultType {
	case "vector":
		if len(early.scalar) > 0 {
			return errors.New("a vector result with elements that are not series")
		}
		return nil
	case "scalar":
		if early.series || len(early.scalar) != 2 {
			return errors.New("a scalar result that is not [time, \"value\"]")
		}
		var p pair
		if err := p.UnmarshalJSON([]byte("[" + string(early.scalar[0]) + "," + string(early.scalar[1]) + "]")); err != nil {
			return err
		}
		return d.add(map[string]string{}, p)
	}
	return fmt.Errorf("result type %s, want an instant vector", d.resultType)
}

func (d *answerDecoder) add(metric map[string]string, p pair) error {
	d.n++
	if d.n > d.max {
		return fmt.Errorf("%w: more than %d series in one answer (Options.MaxSeriesPerProfile × the profiles of the batch)", errTooManySeries, d.max)
	}
	d.keep(metric, newPoint(metric, p))
	return nil
}

// pair is a sample's [<unix time>, "<value>"].
type pair struct {
	t   model.Time
	v   model.SampleValue
	set bool
}

// UnmarshalJSON parses the pair in place, without the copies of a generic
// decode; the time and value use prometheus/common's own parsers.
func (p *pair) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	if len(b) < 2 || b[0] != '[' || b[len(b)-1] != ']' {
		return fmt.Errorf("sample %.40q is not [time, \"value\"]", b)
	}
	ts, v, ok := bytes.Cut(b[1:len(b)-1], []byte(","))
	if !ok {
		return fmt.Errorf("sample %.40q is not [time, \"value\"]", b)
	}
	if err := p.t.UnmarshalJSON(bytes.TrimSpace(ts)); err != nil {
		return fmt.Errorf("sample time: %w", err)
	}
	if err := p.v.UnmarshalJSON(bytes.TrimSpace(v)); err != nil {
		return fmt.Errorf("sample value: %w", err)
	}
	p.set = true
	return nil
}

// key reads an object key.
func (d *answerDecoder) key() (string, error) {
	tok, err := d.dec.Token()
	if err != nil {
		return "", err
	}
	k, ok := tok.(string)
	if !ok {
		return "", fmt.Errorf("object key %v is not a string", tok)
	}
	return k, nil
}

// delim reads one delimiter.
func (d *answerDecoder) delim(want json.Delim) error {
	tok, err := d.dec.Token()
	if err != nil {
		return err
	}
	if got, ok := tok.(json.Delim); !ok || got != want {
		return fmt.Errorf("got %v, want %q", tok, want)
	}
	return nil
}

// skip reads one value of any kind token by token, keeping none of it.
func (d *answerDecoder) skip() error {
	depth := 0
	for {
		tok, err := d.dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}
