// Package benchcluster is tier B of the benchmark suite
// (docs/benchmarks/tier-b.md): scenarios of tier A (internal/lab/bench) played
// in real time, optionally compressed by one factor, on the local cluster of
// internal/lab/harness: real kube-apiserver and controller-manager (the real
// HPA, real rolling updates), kwok pods, the real Prometheus scraping the
// simulated service, and the real operator binary.
//
// Each selected scenario runs two arms side by side in one cluster, each in
// its own namespace with its own simulated service, on the same trace and
// seed:
//
//   - tuner: the operator with the scenario's PerformanceProfile in Auto,
//     tuning the workload's real HPA;
//   - hpa-cpu70: no profile, the real HPA at 70 % CPU.
//
// The run records a time series per arm (load, replicas, knob values,
// ground-truth latency from the model, Prometheus' histogram_quantile, the
// operator's observed SLI, the real HPA's desired replicas), scores it with
// tier A's metrics, replays the same scenario and seed in tier A, and
// compares: the headline metrics, the real HPA's replica trajectory against
// tier A's emulation (closed loop, and open loop on the recorded CPU), and
// the gap between Prometheus' quantile and the ground truth.
//
// Time compression by Speed divides every time constant: the trace (the
// simulated service runs Speed simulated seconds per wall second), the HPA
// sync period, its stabilisation windows and rate-limit periods (an explicit
// behavior on every HPA), the profile's interval and settle time, and the
// rollout budget per hour is multiplied by it. The profile's SLO window
// cannot go below the API's minimum of one minute of wall time; the report
// states the window in simulated time, and tier A is also replayed with that
// window so that the difference can be told apart.
package benchcluster
