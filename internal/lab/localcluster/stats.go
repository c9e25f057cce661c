package localcluster

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
)

// Stats are the measured start-up time and resource use of a cluster.
type Stats struct {
	// BuildTime is the time spent building missing binaries (usually 0).
	BuildTime time.Duration
	// StartupTime is the time from the start of the first process until
	// every component was ready (and metrics.k8s.io was available when
	// Options.MetricsSource was set); it excludes BuildTime.
	StartupTime time.Duration
	// Components are the processes in start order.
	Components []ComponentStats
}

// ComponentStats are one process's figures.
type ComponentStats struct {
	Name string
	PID  int
	// ReadyAfter is when the component became ready, from the start of the
	// first process.
	ReadyAfter time.Duration
	// Running is false once the process has exited.
	Running bool
	// RSSBytes is the resident set size now (VmRSS from /proc).
	RSSBytes int64
	// CPUTime is the user and system CPU time used so far.
	CPUTime time.Duration
}

// TotalRSSBytes is the sum of the components' resident set sizes.
func (s Stats) TotalRSSBytes() int64 {
	var total int64
	for _, c := range s.Components {
		total += c.RSSBytes
	}
	return total
}

// TotalCPUTime is the sum of the components' CPU times.
func (s Stats) TotalCPUTime() time.Duration {
	var total time.Duration
	for _, c := range s.Components {
		total += c.CPUTime
	}
	return total
}

// String formats the figures as a table.
func (s Stats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "local cluster up in %v (binaries build %v)\n", s.StartupTime.Round(time.Millisecond), s.BuildTime)
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "component\tpid\tready after\tRSS MiB\tCPU\t")
	for _, c := range s.Components {
		fmt.Fprintf(w, "%s\t%d\t%v\t%.1f\t%v\t\n", c.Name, c.PID, c.ReadyAfter.Round(time.Millisecond),
			mib(c.RSSBytes), c.CPUTime)
	}
	fmt.Fprintf(w, "total\t\t\t%.1f\t%v\t\n", mib(s.TotalRSSBytes()), s.TotalCPUTime())
	_ = w.Flush()
	return b.String()
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// Stats measures the cluster now: start-up times and, from /proc, each
// process's resident memory and CPU time.
func (c *Cluster) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := Stats{BuildTime: c.buildTime, StartupTime: c.startup}
	for _, name := range c.order {
		p := c.procs[name]
		cs := ComponentStats{Name: name, PID: p.pid(), ReadyAfter: c.ready[name], Running: !p.exited()}
		if cs.Running {
			cs.RSSBytes, cs.CPUTime, _ = procStats(cs.PID)
		}
		s.Components = append(s.Components, cs)
	}
	return s
}
