package sim

import "math"

// erlangC is the probability that an arrival waits in an M/M/c queue with c
// servers and offered load a = λ/μ (Erlang C); 1 when a ≥ c.
func erlangC(c int, a float64) float64 {
	if c <= 0 || a >= float64(c) {
		return 1
	}
	if a <= 0 {
		return 0
	}
	b := erlangB(c, a)
	rho := a / float64(c)
	return b / (1 - rho*(1-b))
}

// MMcWait is the mean wait of an M/M/c queue with c servers, arrival rate
// lambda and mean service time s (seconds); +Inf when saturated.
func MMcWait(c int, lambda, s float64) float64 {
	if lambda <= 0 {
		return 0
	}
	mu := 1 / s
	free := float64(c)*mu - lambda
	if free <= 0 {
		return math.Inf(1)
	}
	return erlangC(c, lambda*s) / free
}

// fluidQueue is a FIFO queue's backlog in the fluid limit: work arrives at
// rate in and is served at rate out; what would wait longer than maxDelay
// abandons (times out) instead of joining, so the backlog never exceeds
// out·maxDelay. advance returns the queueing delay of the admitted work at
// the start and the end of the step and the fraction of the step's arrivals
// that timed out.
type fluidQueue struct{ backlog float64 }

func (q *fluidQueue) advance(in, out, dt, maxDelay float64) (d0, d1, drop float64) {
	if out <= 0 {
		q.backlog = 0
		return 0, 0, 1
	}
	d0 = q.backlog / out
	next := q.backlog + (in-out)*dt
	if limit := out * maxDelay * 0.98; next > limit { // admitted work never quite times out
		if in > 0 {
			drop = math.Min(1, (next-limit)/(in*dt))
		}
		next = limit
	}
	q.backlog = math.Max(0, next)
	return d0, q.backlog / out, drop
}
