//go:build tools

// Package tools pins the Prometheus server and promtool that the tests, the demo
// and the benchmarks scrape with (the HTTP API works without the web UI assets).
package tools

import (
	_ "github.com/prometheus/prometheus/cmd/prometheus"
	_ "github.com/prometheus/prometheus/cmd/promtool"
)
