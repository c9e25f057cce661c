// Command manager runs the navius-tuner operator: it reconciles
// PerformanceProfiles, reading SLIs from Prometheus and tuning the workloads
// they name.
package main

import (
	"flag"
	"fmt"
	"os"

	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/navius-dev/navius-tuner/internal/version"
)

func main() {
	opts := defaultOptions()
	zapOpts := zap.Options{Development: false}
	opts.bindFlags(flag.CommandLine)
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	if opts.printVersion {
		fmt.Println(version.Get())
		return
	}

	if err := run(opts, zap.New(zap.UseFlagOptions(&zapOpts))); err != nil {
		fmt.Fprintln(os.Stderr, "navius-tuner:", err)
		os.Exit(1)
	}
}
