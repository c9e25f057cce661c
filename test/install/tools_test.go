package install_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestBuildToolsLocksWithoutFlock runs hack/build-tools.sh on a PATH without
// flock, as on a Mac: two runs at once build a tool once (the second waits
// on the mkdir lock, then finds it built); a run whose tool is there returns
// at once even while another holds the lock; and a lock whose owner died is
// taken over.
func TestBuildToolsLocksWithoutFlock(t *testing.T) {
	g := NewWithT(t)
	bin := t.TempDir()
	environ := []string{"PATH=" + pathWithout(t, "flock"), "LOCALBIN=" + bin}
	script := filepath.Join(root, "hack", "build-tools.sh")

	var wg sync.WaitGroup
	outs := make([]result, 2)
	for i := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i] = command(t, nil, environ, script, "actionlint")
		}()
	}
	wg.Wait()
	builds := 0
	for _, r := range outs {
		g.Expect(r.err).NotTo(HaveOccurred(), r.String())
		g.Expect(r.stderr).NotTo(ContainSubstring("flock"))
		builds += strings.Count(r.stdout, ">> building actionlint")
	}
	g.Expect(builds).To(Equal(1), "two runs at once built the tool twice:\n%s\n%s", outs[0], outs[1])
	g.Expect(filepath.Join(bin, "actionlint")).To(BeARegularFile())
	lock := filepath.Join(bin, ".build-tools.lock.d")
	g.Expect(lock).NotTo(BeADirectory(), "the lock is released")

	// Held by a live process (this test): a run with nothing to build does not wait.
	g.Expect(os.Mkdir(lock, 0o755)).To(Succeed())
	g.Expect(os.WriteFile(filepath.Join(lock, "pid"), []byte(strconv.Itoa(os.Getpid())), 0o644)).To(Succeed())
	start := time.Now()
	r := command(t, nil, environ, script, "actionlint")
	g.Expect(r.err).NotTo(HaveOccurred(), r.String())
	g.Expect(time.Since(start)).To(BeNumerically("<", 5*time.Second))
	g.Expect(r.stdout).NotTo(ContainSubstring("waiting"))

	// Held by a process that is gone: the next build takes it over.
	g.Expect(os.RemoveAll(lock)).To(Succeed())
	g.Expect(os.Mkdir(lock, 0o755)).To(Succeed())
	g.Expect(os.WriteFile(filepath.Join(lock, "pid"), []byte("2147483646"), 0o644)).To(Succeed())
	g.Expect(os.Remove(filepath.Join(bin, "actionlint"))).To(Succeed())
	r = command(t, nil, environ, script, "actionlint")
	g.Expect(r.err).NotTo(HaveOccurred(), r.String())
	g.Expect(r.stdout).To(ContainSubstring(">> built " + filepath.Join(bin, "actionlint")))
	g.Expect(lock).NotTo(BeADirectory())
}

// TestMakeRunBindsNoFixedPort: `make run` turns the metrics and probe
// endpoints off, so two can run side by side and nothing else must leave 8443
// and 8081 free; RUN_ARGS comes after and turns them back on.
func TestMakeRunBindsNoFixedPort(t *testing.T) {
	g := NewWithT(t)
	r := command(t, nil, nil, "make", "--no-print-directory", "-n", "run", "RUN_ARGS=--health-probe-bind-address=:8081")
	g.Expect(r.err).NotTo(HaveOccurred(), r.String())
	g.Expect(r.stdout).To(ContainSubstring("go run ./cmd/manager --metrics-bind-address=0 --health-probe-bind-address=0 --health-probe-bind-address=:8081\n"))
}

// TestMakeDeployFromACheckout runs install.md's way to install before the
// first release, `make deploy IMG=...`, as on a laptop: the kubectl on PATH,
// no flock, and no control plane (KUBEBUILDER_ASSETS points at an empty
// directory, which make must leave empty: deploy builds only kustomize). The
// manager's Deployment then runs the image given.
func TestMakeDeployFromACheckout(t *testing.T) {
	g := NewWithT(t)
	const img = "registry.example:5000/team/navius-tuner:v0.0.0-checkout"
	noControlPlane := t.TempDir()
	r := command(t, nil, []string{
		"KUBECONFIG=" + kubeconfig,
		"PATH=" + assets + string(os.PathListSeparator) + pathWithout(t, "flock"),
		"KUBEBUILDER_ASSETS=" + noControlPlane,
	}, "make", "--no-print-directory", "deploy", "IMG="+img)
	g.Expect(r.err).NotTo(HaveOccurred(), r.String())
	entries, err := os.ReadDir(noControlPlane)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(entries).To(BeEmpty(), "make deploy built part of the control plane")
	g.Expect(r.stdout).To(ContainSubstring("deployment.apps/navius-tuner-controller-manager serverside-applied"))

	dep := &appsv1.Deployment{}
	g.Expect(env.Client.Get(t.Context(), client.ObjectKey{Namespace: systemNamespace, Name: "navius-tuner-controller-manager"}, dep)).To(Succeed())
	g.Expect(dep.Spec.Template.Spec.Containers[0].Image).To(Equal(img))
	// Put back the image the other tests' dist/install.yaml has.
	installForReal(t)
}

// TestMakeUndeployKeepsTheProfiles runs `make undeploy` with a kubectl on
// PATH that deletes in a server-side dry run: it removes the manager and
// everything it runs with, and not the CRD, which would take every
// PerformanceProfile with it (that is `make uninstall`).
func TestMakeUndeployKeepsTheProfiles(t *testing.T) {
	g := NewWithT(t)
	installForReal(t)
	dryRun := t.TempDir()
	g.Expect(os.WriteFile(filepath.Join(dryRun, "kubectl"), []byte("#!/usr/bin/env bash\nexec \""+filepath.Join(assets, "kubectl")+"\" \"$@\" --dry-run=server\n"), 0o755)).To(Succeed())
	r := command(t, nil, []string{
		"KUBECONFIG=" + kubeconfig,
		"PATH=" + dryRun + string(os.PathListSeparator) + os.Getenv("PATH"),
	}, "make", "--no-print-directory", "undeploy")
	g.Expect(r.err).NotTo(HaveOccurred(), r.String())
	g.Expect(r.stdout).To(ContainSubstring(`deployment.apps "navius-tuner-controller-manager" deleted from navius-tuner-system namespace (server dry run)`))
	g.Expect(r.stdout).To(ContainSubstring(`namespace "navius-tuner-system" deleted (server dry run)`))
	g.Expect(r.stdout).NotTo(ContainSubstring("customresourcedefinition"))
}
