package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/navius-dev/navius-tuner/internal/lab/localcluster"
)

// OperatorOptions configure the operator process.
type OperatorOptions struct {
	// Binary is the manager binary. Empty: bin/manager under the module root.
	Binary string
	// Rebuild builds the binary even when it exists (go build is incremental),
	// so that a test never runs a stale operator. A missing binary is always built.
	Rebuild bool
	// Args are extra command-line flags.
	Args []string
	// Log receives the operator's output. Nil: <cluster log dir>/manager.log.
	Log io.Writer
}

// ManagerBinary returns bin/manager under the module root.
func ManagerBinary() (string, error) {
	root, err := localcluster.ModuleRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "bin", "manager"), nil
}

// BuildManager builds ./cmd/manager into bin (through a temporary file, so a
// concurrent reader never sees half a binary), reporting progress.
func BuildManager(ctx context.Context, bin string, progress io.Writer) error {
	root, err := localcluster.ModuleRoot()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return err
	}
	fmt.Fprintf(progress, ">> building %s from ./cmd/manager\n", bin)
	start := time.Now()
	tmp := bin + ".tmp" + strconv.Itoa(os.Getpid())
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", tmp, "./cmd/manager")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = progress, progress
	stopTicker := localcluster.TickProgress(progress, "building "+filepath.Base(bin), 15*time.Second)
	err = cmd.Run()
	stopTicker()
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("building the manager: %w", err)
	}
	if err := os.Rename(tmp, bin); err != nil {
		return err
	}
	fmt.Fprintf(progress, ">> built %s in %v\n", bin, time.Since(start).Round(100*time.Millisecond))
	return nil
}

// StartOperator builds the manager when needed and runs it against the
// cluster (no leader election, metrics off, probes on a free port), waiting
// until it is healthy. Stop ends it.
func (e *Env) StartOperator(ctx context.Context, opts OperatorOptions) error {
	e.mu.Lock()
	running := e.operator != nil
	e.mu.Unlock()
	if running {
		return errors.New("the operator is already running")
	}
	bin := opts.Binary
	if bin == "" {
		var err error
		if bin, err = ManagerBinary(); err != nil {
			return err
		}
	}
	if _, err := os.Stat(bin); err != nil || opts.Rebuild {
		if err := BuildManager(ctx, bin, e.opts.Progress); err != nil {
			return err
		}
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	probe := "127.0.0.1:" + strconv.Itoa(port)
	// The manager is told the scrape interval of the Prometheus it reads, as
	// in production: its saturation window, freshness rule and the
	// noise's step derive from it (a flag in Args overrides it).
	args := append([]string{"--leader-elect=false", "--metrics-bind-address=0",
		"--health-probe-bind-address=" + probe, "--prometheus-scrape-interval=" + e.opts.ScrapeInterval.String()}, opts.Args...)
	logw := opts.Log
	var logFile *os.File
	if logw == nil {
		if logFile, err = os.Create(filepath.Join(e.cluster.LogDir(), "manager.log")); err != nil {
			return err
		}
		logw = logFile
	}
	p, err := startProcess(bin, args, []string{"KUBECONFIG=" + e.cluster.Kubeconfig()}, logw, logFile)
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.operator = p
	e.mu.Unlock()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + probe + "/healthz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("the operator exited: %v (log: %s)", p.err, e.OperatorLog())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the operator did not become healthy within 60s (log: %s)", e.OperatorLog())
		}
	}
}

// OperatorLog is the path of the operator's log (when Options.Log was nil).
func (e *Env) OperatorLog() string { return filepath.Join(e.cluster.LogDir(), "manager.log") }

// OperatorRunning reports whether the operator process is alive.
func (e *Env) OperatorRunning() bool {
	e.mu.Lock()
	p := e.operator
	e.mu.Unlock()
	if p == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// process is a child in its own process group that dies with its parent.
type process struct {
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
	err  error
}

func startProcess(bin string, args, env []string, out io.Writer, log *os.File) (*process, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	fmt.Fprintf(out, "# %s %s\n", bin, strings.Join(args, " "))
	if err := cmd.Start(); err != nil {
		if log != nil {
			_ = log.Close()
		}
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	p := &process{cmd: cmd, log: log, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		if log != nil {
			_ = log.Close()
		}
		close(p.done)
	}()
	return p, nil
}

// stop sends SIGTERM to the process group, then SIGKILL after grace.
func (p *process) stop(grace time.Duration) error {
	pgid := -p.cmd.Process.Pid
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("operator killed after %v", grace)
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// OperatorPID returns the operator's process id, or 0.
func (e *Env) OperatorPID() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.operator == nil {
		return 0
	}
	return e.operator.cmd.Process.Pid
}
