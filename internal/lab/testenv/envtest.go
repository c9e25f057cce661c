// This file: StartEnvtest starts a real kube-apiserver and etcd (controller-runtime's
// envtest) from the binaries that hack/build-tools.sh builds from Go modules
// into bin/k8s/<version>, with the project's CRDs installed. When the binaries
// are missing it builds them first, so a test never skips for want of them.

package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	tuningv1alpha1 "github.com/navius-dev/navius-tuner/api/v1alpha1"
	"github.com/navius-dev/navius-tuner/internal/lab/localcluster"
)

// KubernetesVersion is the version of the control-plane binaries the tests run.
const KubernetesVersion = localcluster.KubernetesVersion

// Env is a running API server with the project's CRDs installed.
type Env struct {
	Config *rest.Config
	Client client.Client
	Scheme *runtime.Scheme
	env    *envtest.Environment
}

// Stop stops the API server and etcd.
func (e *Env) Stop() error { return e.env.Stop() }

// NewScheme returns a scheme with the built-in types and the project's API.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := tuningv1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// StartEnvtest starts etcd and kube-apiserver and installs the CRDs from config/crd/bases.
func StartEnvtest() (*Env, error) {
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	scheme := NewScheme()
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting envtest from %s: %w", assets, err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		_ = env.Stop()
		return nil, err
	}
	return &Env{Config: cfg, Client: c, Scheme: scheme, env: env}, nil
}

// RepoRoot returns the module's root directory.
func RepoRoot() (string, error) { return localcluster.ModuleRoot() }

// AssetsDir returns the directory of the control-plane binaries. It honours
// KUBEBUILDER_ASSETS and otherwise builds etcd and kube-apiserver into
// bin/k8s/<version> when either is missing (serialised across test
// processes by localcluster.EnsureBinaries).
func AssetsDir() (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	dir, err := localcluster.DefaultBinDir()
	if err != nil {
		return "", err
	}
	return dir, localcluster.EnsureBinaries(context.Background(), dir, []string{"etcd", "kube-apiserver"}, os.Stderr)
}

// Main is a test package's TestMain: it starts the API server, hands it to
// started (which keeps it in the package's variable), runs the tests, stops
// the API server and exits with the tests' code.
func Main(m *testing.M, started func(*Env)) {
	env, err := StartEnvtest()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	started(env)
	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping envtest:", err)
	}
	os.Exit(code)
}
