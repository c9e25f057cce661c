package sim

import "fmt"

// MakePods returns n pod specs named <prefix>-<i> carrying knobs as env and
// the given CPU request and limit (millicores), as a fixed-size Deployment
// would have them.
func MakePods(prefix string, n int, k Knobs, cpuRequestMillis, cpuLimitMillis int64) []PodSpec {
	out := make([]PodSpec, n)
	for i := range out {
		out[i] = PodSpec{Name: fmt.Sprintf("%s-%d", prefix, i), Env: k.Env(),
			CPURequestMillis: cpuRequestMillis, CPULimitMillis: cpuLimitMillis}
	}
	return out
}
