//go:build race

package prom

// raceEnabled: the race detector multiplies the heap, so memory bounds are not measured under it.
const raceEnabled = true
