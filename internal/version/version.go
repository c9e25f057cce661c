// Package version says which build of navius-tuner runs. Version and Revision
// are set at link time, by the Makefile's build target and the Dockerfile:
//
//	go build -ldflags "-X github.com/navius-dev/navius-tuner/internal/version.Version=v0.2.0 \
//	  -X github.com/navius-dev/navius-tuner/internal/version.Revision=$(git rev-parse HEAD)"
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set with -ldflags -X; the defaults mark a build that did not set them.
var (
	// Version is the release, such as v0.2.0, or what `git describe` says.
	Version = "dev"
	// Revision is the VCS commit the binary was built from.
	Revision = ""
)

// Info is what a build says about itself.
type Info struct {
	Version   string
	Revision  string
	GoVersion string
}

// Get returns the build's Info. Without a Revision from the linker it falls
// back to the commit the Go toolchain stamped (a `go build` in a checkout),
// else "unknown".
func Get() Info {
	rev := Revision
	if rev == "" {
		rev = "unknown"
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" && s.Value != "" {
					rev = s.Value
				}
			}
		}
	}
	return Info{Version: Version, Revision: rev, GoVersion: runtime.Version()}
}

func (i Info) String() string {
	return fmt.Sprintf("navius-tuner %s (revision %s, %s)", i.Version, i.Revision, i.GoVersion)
}
