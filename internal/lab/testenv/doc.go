// Package testenv is the one home of the tests' infrastructure:
//   - StartEnvtest: a real kube-apiserver and etcd (controller-runtime's
//     envtest) with the project's CRDs installed;
//   - StartPrometheus: a real Prometheus scraping the given targets the way
//     the Prometheus Operator does;
//   - FakeProm: a configurable fake Prometheus HTTP API for the answers a
//     real one does not give on demand (faults, thousands of services,
//     canned series);
//   - Script and ScriptedEngine: control periods that the reconciler and
//     tier A's emulated operator both run, so their bookkeeping cannot drift.
//
// The binaries come from bin/k8s/<version>, built by hack/build-tools.sh
// when missing, so a test never skips for want of them.
package testenv
