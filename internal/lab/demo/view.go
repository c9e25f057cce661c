package demo

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// view shows the run: a table redrawn in place on a terminal, plain lines otherwise.
type view struct {
	out        io.Writer
	tty        bool
	o          Options
	kubeconfig string
	lastPlain  time.Time
	printed    int // decision lines already printed (plain mode)
	plainRows  int
	notes      []string
}

// rowsShown is how many table rows a terminal shows.
const rowsShown = 16

func newView(out io.Writer, tty bool, o Options, kubeconfig string) *view {
	return &view{out: out, tty: tty, o: o, kubeconfig: kubeconfig}
}

func (v *view) note(s string) {
	if v.tty {
		v.notes = append(v.notes, s)
		if len(v.notes) > 3 {
			v.notes = v.notes[1:]
		}
		return
	}
	fmt.Fprintln(v.out, s)
}

const tableHeader = "  time    sim   load  ok/s    p50    p95    p99  op p99  SLO   err%  pool(Σbusy)  L1 items/TTL  L1hit L2hit  pods  HPA(min-max@cpu)  redis"

func row(s sample) string {
	slo := "?"
	switch s.sloMet {
	case "True":
		slo = "met"
	case "False":
		slo = "MISS"
	}
	return fmt.Sprintf("%6s %5.1fm %5.0f %5.0f %6s %6s %6s %7s  %-4s %5.1f  %4d(%4.1f)  %6d/%-5s  %4.0f%% %4.0f%%  %2d/%-2d  %3d-%-3d@%3d%%       %3d",
		fmtClock(s.wall), s.simMin, s.load, s.goodput, fmtMS(s.p50), fmtMS(s.p95), fmtMS(s.p99), fmtMS(s.statusP99), slo,
		100*s.errRate, s.poolMax, s.connsInUse, s.l1Items, fmt.Sprintf("%ds", s.l1TTL), 100*s.l1Hit, 100*s.l2Hit,
		s.pods, s.desired, s.hpaMin, s.hpaMax, s.hpaTarget, s.redis)
}

func (v *view) render(r *recorder) {
	if len(r.samples) == 0 {
		return
	}
	if !v.tty {
		v.plain(r)
		return
	}
	var b strings.Builder
	b.WriteString("\033[H\033[2J")
	fmt.Fprintf(&b, "navius-tuner demo · scenario %s · %gx · SLO %s · Ctrl-C stops and cleans up\n", v.o.Scenario, v.o.Speed, r.slo)
	fmt.Fprintf(&b, "watch the profile: KUBECONFIG=%s kubectl get npp -n %s -w\n\n", v.kubeconfig, Namespace)
	b.WriteString(tableHeader + "\n")
	rows := r.samples
	// Thin the rows so that the table spans the whole run.
	step := max(1, len(rows)/rowsShown)
	var shown []sample
	for i := len(rows) - 1; i >= 0 && len(shown) < rowsShown; i -= step {
		shown = append(shown, rows[i])
	}
	for i := len(shown) - 1; i >= 0; i-- {
		b.WriteString(row(shown[i]) + "\n")
	}
	b.WriteString("\nlatest decisions:\n")
	from := max(0, len(r.lines)-5)
	if len(r.lines) == 0 {
		b.WriteString("  (none yet: the operator observes for a window before it acts)\n")
	}
	for _, l := range r.lines[from:] {
		fmt.Fprintf(&b, "  %s  %s\n", fmtClock(l.at), clip(l.text, 200))
	}
	if r.lastWhy != "" {
		fmt.Fprintf(&b, "\nwhy (status): %s\n", clip(r.lastWhy, 300))
	}
	for _, n := range v.notes {
		b.WriteString("! " + n + "\n")
	}
	fmt.Fprint(v.out, b.String())
}

// plain prints a row every 10 s (and the header every 20 rows) and each
// decision once.
func (v *view) plain(r *recorder) {
	for ; v.printed < len(r.lines); v.printed++ {
		l := r.lines[v.printed]
		fmt.Fprintf(v.out, "%6s decision: %s\n", fmtClock(l.at), l.text)
	}
	if time.Since(v.lastPlain) < 10*time.Second {
		return
	}
	if v.plainRows%20 == 0 {
		fmt.Fprintln(v.out, tableHeader)
	}
	v.plainRows++
	v.lastPlain = time.Now()
	fmt.Fprintln(v.out, row(r.samples[len(r.samples)-1]))
}

func clip(s string, n int) string {
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
