// Package bench is tier A of the benchmark suite (docs/benchmarks/README.md):
// the decision engine and the workload model run together on a virtual
// clock, in process. Each run plays one arm on one scenario and seed:
//
//   - tuner: every control period the loop builds a signals.Observation from
//     the model's metrics the way the Prometheus reader would (rates over the
//     profile's window of 15 s scrapes, histogram_quantile over the buckets),
//     reads tuning.State from the emulated Deployment, HPA and Redis, calls
//     tuning.Decide and applies the plan as the reconciler does (env changes
//     roll the pods, HPA fields, Redis replicas; the decision history with
//     its verdicts kept like status.history);
//   - hpa-cpuX: the upstream HPA algorithm (emulated) at X % CPU;
//   - static-default and static-best: fixed configurations.
//
// Ground truth (latency percentiles, errors, open connections) comes from
// the model per request and per second; the targets are judged on it
// (targets.go), including B6's unsafe actions, which the harness counts
// without asking the engine what it thought it saw.
package bench
