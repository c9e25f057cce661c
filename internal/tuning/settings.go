package tuning

import (
	"time"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
)

// Defaults of the API (kubebuilder defaults), applied by SettingsOf when a Go
// struct carries the zero value instead.
const (
	DefaultInterval           = 30 * time.Second
	DefaultWindow             = 5 * time.Minute
	DefaultMaxStepPercent     = 50
	DefaultSettleTime         = 3 * time.Minute
	DefaultMaxRolloutsPerHour = 2
)

// Settings are the profile's guardrails with every zero value replaced by its
// default, and the durations the engine derives from them.
type Settings struct {
	Mode                 tuningv1alpha1.Mode
	Interval             time.Duration
	Window               time.Duration
	MaxStepPercent       int64
	SettleTime           time.Duration
	MaxRolloutsPerHour   int
	RollbackOnRegression bool
	// SettleFor is how long every change settles before it is judged and before
	// the next one: settleTime, but never less than the SLO window, because a
	// window that still holds data from before the change cannot judge it.
	SettleFor time.Duration
	// SustainFor: how long the SLOs must have held with margin before a saving.
	SustainFor time.Duration
	// BackOff is how long a direction of a knob waits after a move in it was
	// undone; it doubles with each further undone move in a row.
	BackOff time.Duration
}

// SettingsOf is the one place that turns zero values into the API defaults.
func SettingsOf(spec tuningv1alpha1.PerformanceProfileSpec) Settings {
	g := spec.Guardrails
	s := Settings{
		Mode:                 spec.Mode,
		Interval:             orDuration(spec.Interval.Duration, DefaultInterval),
		Window:               orDuration(spec.SLO.Window.Duration, DefaultWindow),
		MaxStepPercent:       int64(g.MaxStepPercent),
		SettleTime:           orDuration(g.SettleTime.Duration, DefaultSettleTime),
		MaxRolloutsPerHour:   int(g.MaxRolloutsPerHour),
		RollbackOnRegression: g.RollbackOnRegression == nil || *g.RollbackOnRegression,
	}
	if s.Mode == "" {
		s.Mode = tuningv1alpha1.ModeAuto
	}
	if s.MaxStepPercent <= 0 {
		s.MaxStepPercent = DefaultMaxStepPercent
	}
	if s.MaxRolloutsPerHour <= 0 {
		s.MaxRolloutsPerHour = DefaultMaxRolloutsPerHour
	}
	s.SettleFor = max(s.SettleTime, s.Window)
	s.SustainFor = max(3*s.Window, 3*s.SettleTime)
	s.BackOff = max(30*time.Minute, 6*s.SettleTime)
	return s
}

func orDuration(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
