// Package install_test checks what a platform team installs: dist/install.yaml
// (config/default rendered), the Helm chart in dist/chart, the RBAC they grant
// to the manager, and the Prometheus and Grafana assets. The API server is a
// real kube-apiserver (internal/lab/testenv); kubectl, helm and promtool are the
// binaries hack/build-tools.sh builds from Go modules.
package install_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/navius-dev/navius-tuner/internal/lab/testenv"
)

const (
	// defaultIMG is the image config/manager/kustomization.yaml sets and the Makefile's default IMG.
	defaultIMG = "ghcr.io/navius-dev/navius-tuner:dev"
	// systemNamespace is where config/default installs the manager.
	systemNamespace = "navius-tuner-system"
	// managerSA is the manager's ServiceAccount in config/default.
	managerSA = "navius-tuner-controller-manager"
)

var (
	env        *testenv.Env
	root       string
	assets     string
	kubeconfig string
	// scratch is a directory the package's tests share, removed at the end.
	scratch string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	if root, err = testenv.RepoRoot(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if assets, err = testenv.AssetsDir(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if env, err = testenv.StartEnvtest(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping envtest:", err)
		}
	}()
	dir, err := os.MkdirTemp("", "navius-install-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()
	scratch = dir
	kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := writeKubeconfig(kubeconfig, env.Config, ""); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// writeKubeconfig writes a kubeconfig for cfg: with token when given, else
// with cfg's client certificate (envtest's admin).
func writeKubeconfig(path string, cfg *rest.Config, token string) error {
	b64 := base64.StdEncoding.EncodeToString
	user := fmt.Sprintf("    client-certificate-data: %s\n    client-key-data: %s\n", b64(cfg.CertData), b64(cfg.KeyData))
	if token != "" {
		user = fmt.Sprintf("    token: %s\n", token)
	}
	host := cfg.Host
	if !strings.HasPrefix(host, "https://") && !strings.HasPrefix(host, "http://") {
		host = "https://" + host
	}
	text := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: envtest
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: user
  user:
%scontexts:
- name: envtest
  context: {cluster: envtest, user: user}
current-context: envtest
`, host, b64(cfg.CAData), user)
	return os.WriteFile(path, []byte(text), 0o600)
}

// result is what a command printed.
type result struct {
	stdout, stderr string
	err            error
}

func (r result) String() string {
	return fmt.Sprintf("err: %v\nstdout:\n%s\nstderr:\n%s", r.err, r.stdout, r.stderr)
}

// command runs name with args in the repository root, with stdin when not nil.
func command(t *testing.T, stdin []byte, environ []string, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), environ...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return result{stdout: stdout.String(), stderr: stderr.String(), err: err}
}

// kubectl runs the kubectl built from k8s.io/kubernetes against envtest as its admin.
func kubectl(t *testing.T, stdin []byte, args ...string) result {
	t.Helper()
	return command(t, stdin, []string{"KUBECONFIG=" + kubeconfig}, filepath.Join(assets, "kubectl"), args...)
}

// ensureNamespace creates the namespace ns unless it exists.
func ensureNamespace(t *testing.T, ns string) {
	t.Helper()
	if err := env.Client.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// localBin is where hack/build-tools.sh puts the code tools: LOCALBIN, else bin/.
func localBin() string {
	if dir := os.Getenv("LOCALBIN"); dir != "" {
		return dir
	}
	return filepath.Join(root, "bin")
}

// pathWithout returns a PATH like this process's with no directory that
// holds any of names: each such directory is replaced by a copy made of
// symbolic links to everything else in it. It stands for a machine without
// those commands, such as macOS, which has no flock.
func pathWithout(t *testing.T, names ...string) string {
	t.Helper()
	var dirs []string
	for i, dir := range filepath.SplitList(os.Getenv("PATH")) {
		holds := false
		for _, n := range names {
			if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
				holds = true
			}
		}
		if !holds {
			dirs = append(dirs, dir)
			continue
		}
		shadow := filepath.Join(t.TempDir(), fmt.Sprintf("path-%d", i))
		if err := os.Mkdir(shadow, 0o755); err != nil {
			t.Fatal(err)
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if slices.Contains(names, e.Name()) {
				continue
			}
			if err := os.Symlink(filepath.Join(dir, e.Name()), filepath.Join(shadow, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
		dirs = append(dirs, shadow)
	}
	return strings.Join(dirs, string(os.PathListSeparator))
}

// kustomize returns the kustomize built from its pinned module.
func kustomize(t *testing.T) string {
	t.Helper()
	return tool(t, "kustomize", filepath.Join(localBin(), "kustomize"))
}

// tool returns the path of a binary from hack/build-tools.sh, building it when missing.
func tool(t *testing.T, target, path string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if r := command(t, nil, nil, filepath.Join(root, "hack", "build-tools.sh"), target); r.err != nil {
			t.Fatalf("building %s: %s", target, r)
		}
	}
	return path
}

func helm(t *testing.T, args ...string) result {
	t.Helper()
	bin := tool(t, "helm", filepath.Join(localBin(), "helm"))
	// Keep helm's caches and config out of the home directory.
	home := t.TempDir()
	return command(t, nil, []string{
		"HELM_CACHE_HOME=" + filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME=" + filepath.Join(home, "config"),
		"HELM_DATA_HOME=" + filepath.Join(home, "data"),
	}, bin, args...)
}

func promtool(t *testing.T, args ...string) result {
	t.Helper()
	bin := tool(t, "control-plane", filepath.Join(assets, "promtool"))
	return command(t, nil, nil, bin, args...)
}

func readFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readFileG(g Gomega, rel string) []byte {
	b, err := os.ReadFile(filepath.Join(root, rel))
	g.Expect(err).NotTo(HaveOccurred())
	return b
}
