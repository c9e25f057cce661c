package sim

// MakePods returns n pod specs named like a Deployment's pods (PodName) carrying
// knobs as env and the given CPU request and limit (millicores), as a
// fixed-size Deployment would have them.
func MakePods(deployment string, n int, k Knobs, cpuRequestMillis, cpuLimitMillis int64) []PodSpec {
	out := make([]PodSpec, n)
	for i := range out {
		out[i] = PodSpec{Name: PodName(deployment, i), Env: k.Env(),
			CPURequestMillis: cpuRequestMillis, CPULimitMillis: cpuLimitMillis}
	}
	return out
}

// podAlphabet is the alphabet Kubernetes uses for generated name suffixes.
const podAlphabet = "bcdfghjklmnpqrstvwxz2456789"

// PodName is the i-th pod name of a Deployment in the shape Kubernetes gives
// them (<deployment>-<pod-template-hash>-<5 chars>), so that queries mapping
// pods to their Deployment by name work on the simulated series too.
func PodName(deployment string, i int) string {
	suffix := make([]byte, 5)
	for j := range suffix {
		suffix[len(suffix)-1-j] = podAlphabet[i%len(podAlphabet)]
		i /= len(podAlphabet)
	}
	return deployment + "-6d4cf56db6-" + string(suffix)
}
