package period

import (
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/tuning"
)

// The learned CPU per request is not rewritten every period (a status write
// per profile and period): only when it moved by more than 5 %, while its
// sample count still grows (up to tuning.MaxCPUSamples), or with the SLIs'
// refresh, which writes the status anyway.
func TestLearnPersistsTheCPUPerRequestOnlyWhenItMoves(t *testing.T) {
	cpu := func(us int64, samples int32) *v1.LearnedCPU {
		return &v1.LearnedCPU{PerRequest: metav1.Duration{Duration: time.Duration(us) * time.Microsecond}, Samples: samples}
	}
	sat := int32(tuning.MaxCPUSamples)
	for _, tc := range []struct {
		name      string
		stored    *v1.LearnedCPU
		slisAge   time.Duration // since status.slis was written; 0: just now
		learned   *v1.LearnedCPU
		persisted bool
	}{
		{"the first sample", nil, 0, cpu(1000, 1), true},
		{"a sample while the count grows", cpu(1000, 3), 0, cpu(1010, 4), true},
		{"a 1 % move at the full count", cpu(1000, sat), 0, cpu(1010, sat), false},
		{"a 5 % move at the full count", cpu(1000, sat), 0, cpu(1050, sat), false},
		{"a 6 % move at the full count", cpu(1000, sat), 0, cpu(1060, sat), true},
		{"a 6 % drop at the full count", cpu(1000, sat), 0, cpu(940, sat), true},
		{"a 1 % move when the SLIs' refresh writes the status anyway", cpu(1000, sat), SLIsRefresh, cpu(1010, sat), true},
		{"nothing learned", cpu(1000, sat), SLIsRefresh, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &v1.PerformanceProfileStatus{Memory: &v1.Memory{CPU: tc.stored.DeepCopy()},
				SLIs: &v1.SLIs{ObservedAt: &metav1.Time{Time: now.Add(-tc.slisAge)}}}
			Learn(st, tc.learned, now)
			want := tc.stored
			if tc.persisted {
				want = tc.learned
			}
			if got := st.Memory.CPU; !reflect.DeepEqual(got, want) {
				t.Errorf("memory.cpu %+v, want %+v", got, want)
			}
		})
	}
}
