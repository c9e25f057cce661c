package benchcluster

import (
	"context"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/navius-dev/navius-tuner/internal/lab/bench"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// TestSmokeB1 runs B1 shrunk to 480 simulated seconds at 4x (about 120 s of
// wall time plus start-up; the operator gets its profile at 300 s, after its
// first full window) on the local cluster. Correctness only: it
// finishes, every arm is sampled, the figures are finite and the report and
// plot are written. No timing is asserted.
func TestSmokeB1(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the local cluster")
	}
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	log := io.Discard
	if testing.Verbose() {
		log = os.Stderr
	}
	dir := t.TempDir()
	rep, err := Run(ctx, Options{Out: dir, Scenarios: []string{"B1"}, Speed: 4, DurationScale: 0.2, Log: log})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(rep.Scenarios).To(HaveLen(1))
	s := rep.Scenarios[0]
	for _, arm := range Arms {
		r := s.Arms[arm]
		g.Expect(len(r.Result.Samples)).To(BeNumerically(">=", int(s.Scenario.Duration/bench.SampleEvery)-2), arm)
		g.Expect(r.Result.Minutes).NotTo(BeEmpty(), arm)
		g.Expect(r.Result.Requests).To(BeNumerically(">", 0), arm)
		finite := 0
		for _, x := range r.Extras {
			if !math.IsNaN(x.PromQ) {
				finite++
			}
		}
		g.Expect(finite).To(BeNumerically(">", 0), "%s: Prometheus answered a quantile", arm)
	}
	// The operator starts by tier A's rule, at the window it runs with here.
	g.Expect(s.Arms[bench.ArmTuner].ProfileAt).To(BeNumerically(">=", tunerStart(s.Scenario, 4)))
	g.Expect(s.Arms[bench.ArmTuner].ProfileAt).To(BeNumerically("<", tunerStart(s.Scenario, 4)+5))
	// Every write the operator made was recorded before it was made: no
	// decision rebuilt as Unknown (only a crash between the two leaves one).
	for _, d := range s.Arms[bench.ArmTuner].Decisions {
		g.Expect(d.Diagnosis).NotTo(Equal(string(tuning.DiagnosisUnknown)), "unrecorded write: %s %v (%s)", d.Family, d.Changes, d.Reason)
	}
	tb := s.TierBTable()
	for _, arm := range tb.Arms {
		for row, st := range tb.Stats[arm] {
			g.Expect(math.IsInf(st.Mean, 0)).To(BeFalse(), "%s %s", arm, row)
		}
	}
	for _, f := range []string{"tier-b.md", "tierb-b1.png"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(fi.Size()).To(BeNumerically(">", 1000), f)
	}
}
