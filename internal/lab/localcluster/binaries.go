package localcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// KubernetesVersion is the version of the control-plane binaries.
const KubernetesVersion = "v1.37.2"

// modulePath is the module whose root holds hack/build-tools.sh and bin/.
const modulePath = "github.com/navius-dev/navius-tuner"

// ModuleRoot returns the root directory of the navius-tuner module: the first
// directory holding its go.mod, walking up from the working directory, else
// the directory of `go env GOMOD`.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if isModuleRoot(d) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err == nil {
		if d := filepath.Dir(strings.TrimSpace(string(out))); isModuleRoot(d) {
			return d, nil
		}
	}
	return "", fmt.Errorf("no go.mod of %s found above %s", modulePath, dir)
}

// isModuleRoot reports whether dir holds the go.mod of this module.
func isModuleRoot(dir string) bool {
	data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	first, _, _ := strings.Cut(string(data), "\n")
	return err == nil && strings.TrimSpace(first) == "module "+modulePath
}

// DefaultBinDir returns bin/k8s/<KubernetesVersion> under the module root.
func DefaultBinDir() (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "bin", "k8s", KubernetesVersion), nil
}

// missingBinaries returns the names in names that are not executable files in dir.
func missingBinaries(dir string, names []string) []string {
	var missing []string
	for _, n := range names {
		fi, err := os.Stat(filepath.Join(dir, n))
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			missing = append(missing, n)
		}
	}
	return missing
}

// EnsureBinaries builds the control-plane binaries into binDir with
// hack/build-tools.sh when any of names is missing, streaming the script's
// progress to progress. Concurrent callers (parallel test packages) are
// serialised by a lock file in binDir, so a binary is built once.
func EnsureBinaries(ctx context.Context, binDir string, names []string, progress io.Writer) error {
	if len(missingBinaries(binDir, names)) == 0 {
		return nil
	}
	root, err := ModuleRoot()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return err
	}
	lock, err := os.OpenFile(filepath.Join(binDir, ".build.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer func() { _ = lock.Close() }()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("locking %s: %w", lock.Name(), err)
	}
	defer func() { _ = syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) }()
	missing := missingBinaries(binDir, names)
	if len(missing) == 0 {
		return nil // built by another process while we waited
	}
	if progress == nil {
		progress = os.Stderr
	}
	fmt.Fprintf(progress, "localcluster: %s missing in %s; building with hack/build-tools.sh control-plane\n",
		strings.Join(missing, ", "), binDir)
	cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "build-tools.sh"), "control-plane")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "KUBEBUILDER_ASSETS="+binDir)
	out := &lockedWriter{w: progress}
	cmd.Stdout, cmd.Stderr = out, out
	stopTicker := TickProgress(out, "building control-plane binaries", 30*time.Second)
	err = cmd.Run()
	stopTicker()
	if err != nil {
		return fmt.Errorf("building control-plane binaries: %w", err)
	}
	if missing := missingBinaries(binDir, names); len(missing) > 0 {
		return errors.New("hack/build-tools.sh did not build " + strings.Join(missing, ", ") + " into " + binDir)
	}
	return nil
}

// TickProgress writes "still <what>" with the elapsed time to w every
// interval until the returned function is called, so that a long, silent
// go build shows life.
func TickProgress(w io.Writer, what string, interval time.Duration) (stop func()) {
	done := make(chan struct{})
	start := time.Now()
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprintf(w, ">> still %s (%v elapsed)\n", what, time.Since(start).Round(time.Second))
			}
		}
	}()
	return func() { close(done) }
}

// lockedWriter serialises writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
