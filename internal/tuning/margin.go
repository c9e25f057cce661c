package tuning

import (
	"fmt"
	"time"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/signals"
)

// A thin margin. An objective met by a few percent is not met for long: the
// next burst, a busy neighbour on the node or a cold cache puts the
// percentile over its limit, and the relief then comes after the breach. So
// when the SLOs have held for a whole SLO window and a latency objective's
// percentile over that window is above thinMarginRatio of its limit, the
// engine keeps going: the thin margin
// is diagnosed as a breach of that line (the same diagnosis, tail and
// remedies as a breach of the limit, with the line in place of the limit),
// and one raise is taken on the env family the diagnosis attributes the tail
// to. Its verdict keeps it when the percentile fell by helpShare and undoes
// it otherwise; an undone one is remembered like an experiment and not
// retried on the same load (RememberVerdict).
//
// It never reduces, never acts on the HPA's or Redis' families (the HPA
// follows the CPU on its own, and a CPU-bound margin is its to keep: a floor
// raised for a margin would cost replicas where the objective holds), nor on
// the pool when the database's budget is shared (another profile's breach
// may need those connections). It is optional, so it is taken only when
// everything its verdict reads is there (the load and the pods, besides the
// family's signals), at most once per stretch of met SLOs, and only with
// room in the rollout budget for itself and its undo (thinMarginRestarts).
// A breach after it keeps it (the verdict): its undo is then not spent.
const (
	// thinMarginRatio is the line: the benchmark's own margin (p99 ≤ 0.9 ×
	// the threshold). It is above keepRatio, so a saving that leaves the
	// objective between keepRatio and this line is undone by the saving's
	// verdict, never answered by a raise: the two cannot take turns.
	thinMarginRatio = 0.9
	// thinMarginRestarts is the room in the rollout budget a thin-margin
	// raise needs: its own restart and its undo's if it does not help. A
	// breach after it does not undo it (verdict), so the restart the undo
	// would have spent is the breach's relief's: with the default of 2 an
	// hour it is taken when no restart happened in the last hour.
	thinMarginRestarts = 2
)

// thinMargin is the latency objective whose margin is thin, and since when the SLOs hold.
type thinMargin struct {
	o     objective
	since time.Time
}

// text reads "SLO met with a thin margin: p99 38ms of 40ms (95%, above the
// 90% line) over the 5m0s window, met since 12:03:00".
func (t thinMargin) text(window time.Duration) string {
	return fmt.Sprintf("SLO met with a thin margin: %s %s of %s (%s, above the %.0f%% line) over the %s window, met since %s",
		percentileName(t.o.signal), fmtSeconds(t.o.value), fmtSeconds(t.o.limit), fmtRatio(t.o.ratio), thinMarginRatio*100,
		window, sinceText(t.since))
}

// thinLatency is the latency objective with the thinnest margin when it is
// at or above thinMarginRatio of its limit and the SLOs are met; false otherwise.
func (r sloReport) thinLatency() (objective, bool) {
	var thin objective
	found := false
	if !r.met() {
		return thin, false
	}
	for _, o := range r.objectives {
		if o.latency && o.ratio >= thinMarginRatio && (!found || o.ratio > thin.ratio) {
			thin, found = o, true
		}
	}
	return thin, found
}

// against is the report with each latency objective's limit moved to line
// × its limit: a thin margin reads as a breach of the line, so that the
// breach's diagnosis and remedies apply to it unchanged.
func (r sloReport) against(line float64) sloReport {
	out := r
	out.objectives = make([]objective, len(r.objectives))
	for i, o := range r.objectives {
		if o.latency && o.limit > 0 {
			o.limit *= line
			o.ratio = o.value / o.limit
		}
		out.objectives[i] = o
	}
	return out
}

// widenThinMargin takes one raise for a thin margin (see thinMarginRatio);
// false when the margin is not thin, so that the savings' step runs.
func (d *decider) widenThinMargin() bool {
	o, thin := d.slo.thinLatency()
	if !thin {
		return false
	}
	// A restore of the HPA's window is an undo that waits for nothing: it goes first, alone.
	if d.restoreWindow() {
		return true
	}
	tm := thinMargin{o: o, since: d.in.SLOMetSince}
	if hold := d.thinMarginHold(tm); hold != "" {
		return d.holdThin(tm, hold)
	}
	met := d.slo
	d.thin = &tm
	d.slo = met.against(thinMarginRatio)
	defer func() { d.slo, d.thin = met, nil }()
	found, ruledOut, unknown := d.diagnose()
	switch {
	case len(unknown) > 0:
		return d.holdThin(tm, "no raise while a family is unknown (not measured): "+joinNotes(unknown))
	case len(found) == 0:
		return d.holdThin(tm, "no family explains the tail ("+joinNotes(ruledOut)+"): nothing changed")
	}
	var notes []string
	for _, f := range found {
		if !IsEnvFamily(f.family) {
			notes = append(notes, fmt.Sprintf("%s (left to the %s family's own scaling)", f.evidence, f.family))
			continue
		}
		if db := SharedDatabase(d.in.Spec); f.family == FamilyPool && db != "" {
			notes = append(notes, fmt.Sprintf("%s (no pool raise: the budget of database %q is shared, its connections are kept for a breach of the profiles that name it)",
				f.evidence, db))
			continue
		}
		p, hold := d.remedy(f)
		if hold == "" {
			p.diagnosis = DiagnosisThinMargin
			p.predicted = joinNotes(append([]string{fmt.Sprintf("thin margin: %s %s -> under %s, else undone",
				percentileName(o.signal), fmtSeconds(o.value), fmtSeconds(o.value*(1-helpShare)))}, nonEmpty(p.predicted)...))
			hold = d.adopt(p)
		}
		if hold == "" {
			d.plan.Holds = append(d.plan.Holds, notes...)
			return true
		}
		notes = append(notes, hold)
	}
	return d.holdThin(tm, joinNotes(notes))
}

// thinMarginHold says why no raise may be taken for a thin margin yet; ""
// when one may. The percentile is read over the SLO window: once the SLOs
// have held for a whole window, the thin reading is of requests that were
// all served inside the objective, not the end of a breach leaving the
// window (the change before it has settled too: holdBeforeActing).
func (d *decider) thinMarginHold(tm thinMargin) string {
	if tm.since.IsZero() {
		return "waiting: since when the SLOs hold is unknown"
	}
	if held := d.in.Now.Sub(tm.since); held < d.s.Window {
		return fmt.Sprintf("waiting until the SLOs have held for the %s window (held for %s)", d.s.Window, held.Round(time.Second))
	}
	for _, h := range d.in.History {
		if Diagnosis(h.Diagnosis) == DiagnosisThinMargin && !h.Time.Time.Before(tm.since) {
			return fmt.Sprintf("a thin margin was widened once at %s since the SLOs hold", clock(h.Time.Time))
		}
	}
	if absent := d.v.absent([]signals.Signal{signals.Throughput, signals.Pods}); len(absent) > 0 {
		return "no raise without the load and the pods its verdict compares: " + joinNotes(absent)
	}
	n := len(rolloutsLastHour(d.mem, d.in.Now))
	if n+thinMarginRestarts > d.s.MaxRolloutsPerHour {
		return fmt.Sprintf("no raise: %d of %d restarts in the last hour; a thin margin needs room for %d (its own and its undo's)",
			n, d.s.MaxRolloutsPerHour, thinMarginRestarts)
	}
	return ""
}

// SharedDatabase is the database whose budget the profile shares with the
// profiles that name it too (spec.connectionPool.database.name), "" when
// its budget is its own.
func SharedDatabase(spec tuningv1alpha1.PerformanceProfileSpec) string {
	if c := spec.ConnectionPool; c != nil && c.Database != nil {
		return c.Database.Name
	}
	return ""
}

// holdThin completes the plan with why a thin margin got no raise.
func (d *decider) holdThin(tm thinMargin, hold string) bool {
	d.plan.Holds = append(d.plan.Holds, "thin margin: "+hold)
	d.plan.Reason = tm.text(d.s.Window) + "; " + hold
	return true
}
