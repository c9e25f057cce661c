package bench

import (
	"maps"
	"math"
	"sort"

	"github.com/navius-dev/navius-tuner/internal/lab/sim"
)

// deployment emulates a Deployment's pods through the rolling-update
// controller: maxSurge 25 % (rounded up) and maxUnavailable 25 % (rounded
// down); a new pod is ready StartSeconds after it was created, and cold.
type deployment struct {
	name          string
	replicas      int32 // spec.replicas
	env           map[string]string
	gen           int
	pods          []*simPod
	next          int
	podChanges    int // pods created and deleted so far
	startSeconds  float64
	cpuReq, cpuLm int64
	defaults      sim.Knobs
}

type simPod struct {
	name    string
	gen     int
	created float64
	env     map[string]string
	cpuSum  float64 // millicore-seconds since the last HPA sync
	cpuN    float64
}

func (p *simPod) ready(now, start float64) bool { return now-p.created >= start }

func (d *deployment) maxSurge() int32 {
	s := int32(math.Ceil(float64(d.replicas) * 0.25))
	if s == 0 && d.maxUnavailable() == 0 {
		s = 1
	}
	return s
}

func (d *deployment) maxUnavailable() int32 { return int32(math.Floor(float64(d.replicas) * 0.25)) }

// setEnv changes the pod template; a different env starts a rollout.
func (d *deployment) setEnv(env map[string]string) bool {
	if maps.Equal(env, d.env) {
		return false
	}
	d.env = maps.Clone(env)
	d.gen++
	return true
}

func (d *deployment) create(now float64) {
	d.pods = append(d.pods, &simPod{name: sim.PodName(d.name, d.next), gen: d.gen, created: now, env: maps.Clone(d.env)})
	d.next++
	d.podChanges++
}

// remove deletes the pods for which del returns true, at most n, preferring
// pods that are not ready, then the newest (as the ReplicaSet controller ranks them).
func (d *deployment) remove(now float64, n int, del func(*simPod) bool) {
	if n <= 0 {
		return
	}
	var cands []*simPod
	for _, p := range d.pods {
		if del(p) {
			cands = append(cands, p)
		}
	}
	sort.SliceStable(cands, func(i, j int) bool {
		ri, rj := cands[i].ready(now, d.startSeconds), cands[j].ready(now, d.startSeconds)
		if ri != rj {
			return !ri
		}
		return cands[i].created > cands[j].created
	})
	gone := map[*simPod]bool{}
	for _, p := range cands[:min(n, len(cands))] {
		gone[p] = true
		d.podChanges++
	}
	keep := d.pods[:0]
	for _, p := range d.pods {
		if !gone[p] {
			keep = append(keep, p)
		}
	}
	d.pods = keep
}

// reconcile runs the Deployment and ReplicaSet controllers once.
func (d *deployment) reconcile(now float64) {
	var newAll, newReady, oldReady, ready int32
	for _, p := range d.pods {
		r := p.ready(now, d.startSeconds)
		if r {
			ready++
		}
		if p.gen == d.gen {
			newAll++
			if r {
				newReady++
			}
		} else if r {
			oldReady++
		}
	}
	total := int32(len(d.pods))
	old := total - newAll
	want := d.replicas
	if old == 0 {
		for ; newAll < want; newAll++ {
			d.create(now)
		}
		d.remove(now, int(newAll-want), func(*simPod) bool { return true })
		return
	}
	// rolling update: surge new pods, then remove old ones while enough are available
	for room := want + d.maxSurge() - total; room > 0 && newAll < want; room-- {
		d.create(now)
		newAll++
	}
	d.remove(now, int(newAll-want), func(p *simPod) bool { return p.gen == d.gen })
	isOld := func(p *simPod) bool { return p.gen != d.gen }
	unreadyOld := old - oldReady
	d.remove(now, int(unreadyOld), func(p *simPod) bool { return isOld(p) && !p.ready(now, d.startSeconds) })
	canRemove := ready - (want - d.maxUnavailable())
	// also drop old pods beyond what the surge allows once the new ones are up
	d.remove(now, int(min(canRemove, oldReady)), isOld)
}

// rollingOut mirrors the reconciler (controllers/state.go rollingOut): pods
// are not all on the latest template. A scale-up is not a rollout: its new
// pods are on the current template while they start.
func (d *deployment) rollingOut() bool {
	var updated int32
	for _, p := range d.pods {
		if p.gen == d.gen {
			updated++
		}
	}
	return updated < d.replicas || int32(len(d.pods)) > updated
}

// warmSince mirrors the reconciler's podsWarmSince: now while a pod is not
// ready, else when the newest pod became ready.
func (d *deployment) warmSince(now float64) float64 {
	since := math.Inf(-1)
	for _, p := range d.pods {
		if !p.ready(now, d.startSeconds) {
			return now
		}
		since = max(since, p.created+d.startSeconds)
	}
	return since
}

// readySpecs lists the ready pods for the model.
func (d *deployment) readySpecs(now float64) []sim.PodSpec {
	out := make([]sim.PodSpec, 0, len(d.pods))
	for _, p := range d.pods {
		if p.ready(now, d.startSeconds) {
			out = append(out, sim.PodSpec{Name: p.name, Env: p.env, CPURequestMillis: d.cpuReq, CPULimitMillis: d.cpuLm})
		}
	}
	return out
}

// knobs are the knob values of the template.
func (d *deployment) knobs() sim.Knobs { return sim.KnobsFromEnv(d.env, d.defaults) }
