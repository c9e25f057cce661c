package install_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/yaml"
)

const (
	// releaseVersion is the version the tests release.
	releaseVersion = "v0.0.0-test.1"
	// releaseImageRepo is where the test's release image is tagged; it is never pushed.
	releaseImageRepo = "navius-tuner-release-test"
	// releaseDownload is where the test's release says its files are.
	releaseDownload = "https://example.invalid/releases/" + releaseVersion
)

// releaseFiles asks the Makefile which files `make release` writes (the one
// list, in hack/release.sh) for the given platforms; empty: the Makefile's.
func releaseFiles(t *testing.T, version, platforms string) []string {
	t.Helper()
	args := []string{"--no-print-directory", "-s", "release-files", "VERSION=" + version}
	if platforms != "" {
		args = append(args, "RELEASE_PLATFORMS="+platforms, "PLUGIN_PLATFORMS="+platforms)
	}
	r := command(t, nil, nil, "make", args...)
	if r.err != nil {
		t.Fatalf("make release-files: %s", r)
	}
	return strings.Fields(r.stdout)
}

// release is a `make release` the tests share: it runs once, for the
// platform of this machine only (the workflow's platforms are checked by
// name against the same list).
type release struct {
	once             sync.Once
	dir, context     string
	platform, output string
	err              error
}

var built release

// buildRelease runs `make release VERSION=releaseVersion` into a directory
// of its own (once per test binary) and returns it and the image context.
func buildRelease(t *testing.T) (dir, context string) {
	t.Helper()
	built.once.Do(func() {
		base := filepath.Join(scratch, "release")
		built.dir = filepath.Join(base, releaseVersion)
		built.context = filepath.Join(base, "image")
		built.platform = "linux/" + goArch(t)
		r := command(t, nil, nil, "make", "--no-print-directory", "release",
			"VERSION="+releaseVersion, "RELEASE_DIR="+built.dir, "RELEASE_IMAGE_CONTEXT="+built.context,
			"RELEASE_PLATFORMS="+built.platform, "PLUGIN_PLATFORMS="+built.platform, "IMAGE_REPO="+releaseImageRepo,
			"RELEASE_DOWNLOAD="+releaseDownload)
		built.output = r.String()
		built.err = r.err
	})
	if built.err != nil {
		t.Fatalf("make release: %v\n%s", built.err, built.output)
	}
	return built.dir, built.context
}

func goArch(t *testing.T) string {
	r := command(t, nil, nil, "go", "env", "GOARCH")
	if r.err != nil {
		t.Fatalf("go env GOARCH: %s", r)
	}
	return strings.TrimSpace(r.stdout)
}

// TestReleaseWritesItsFiles runs `make release` and checks each file it
// writes: exactly the Makefile's list; the CRD apart from the manager; the
// manager's manifests running the release's image; the chart versioned as
// the release with its README; static, stamped binaries; an SPDX document of
// the manager's modules; and SHA256SUMS that verify.
func TestReleaseWritesItsFiles(t *testing.T) {
	g := NewWithT(t)
	dir, context := buildRelease(t)
	chartVersion := strings.TrimPrefix(releaseVersion, "v")

	entries, err := os.ReadDir(dir)
	g.Expect(err).NotTo(HaveOccurred())
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	g.Expect(names).To(ConsistOf(releaseFiles(t, releaseVersion, built.platform)))

	// The CRD apart: deleting navius-tuner.yaml never deletes the profiles.
	crds := decodeAll(t, readAbs(t, filepath.Join(dir, "navius-tuner.crds.yaml")))
	g.Expect(kinds(crds)).To(ConsistOf("CustomResourceDefinition/performanceprofiles.tuning.navius.io"))
	manager := decodeAll(t, readAbs(t, filepath.Join(dir, "navius-tuner.yaml")))
	g.Expect(kinds(manager)).NotTo(ContainElement(HavePrefix("CustomResourceDefinition/")))
	g.Expect(kinds(manager)).To(ContainElements("Namespace/"+systemNamespace, "Deployment/navius-tuner-controller-manager", "ServiceAccount/"+managerSA))
	g.Expect(managerContainer(g, manager)).To(HaveKeyWithValue("image", releaseImageRepo+":"+releaseVersion))

	// The chart: version and appVersion are the release's, its image tag
	// defaults to the appVersion, and it carries its README.
	chart := untar(t, filepath.Join(dir, "navius-tuner-"+chartVersion+".tgz"))
	var meta struct{ Version, AppVersion string }
	g.Expect(yaml.Unmarshal(chart["navius-tuner/Chart.yaml"], &meta)).To(Succeed())
	g.Expect(meta.Version).To(Equal(chartVersion))
	g.Expect(meta.AppVersion).To(Equal(releaseVersion))
	g.Expect(chart).To(HaveKey("navius-tuner/README.md"))
	g.Expect(chart).To(HaveKey("navius-tuner/values.schema.json"))

	// The binary: static, without paths, and stamped with the release.
	bin := filepath.Join(dir, "navius-tuner-manager-"+strings.ReplaceAll(built.platform, "/", "-"))
	info := command(t, nil, nil, "go", "version", "-m", bin)
	g.Expect(info.err).NotTo(HaveOccurred(), info.String())
	g.Expect(info.stdout).To(ContainSubstring("\tbuild\tCGO_ENABLED=0\n"))
	g.Expect(info.stdout).To(ContainSubstring("\tbuild\t-trimpath=true\n"))
	g.Expect(info.stdout).NotTo(ContainSubstring(root), "the binary holds the build machine's paths")
	v := command(t, nil, nil, bin, "--version")
	g.Expect(v.err).NotTo(HaveOccurred(), v.String())
	g.Expect(v.stdout).To(HavePrefix("navius-tuner " + releaseVersion + " "))

	// The kubectl plugin: packed for krew, static, stamped with the
	// release; the krew manifest installs that archive from the release's
	// download URL and names its checksum.
	plat := strings.ReplaceAll(built.platform, "/", "-")
	archive := "kubectl-navius-" + plat + ".tar.gz"
	packed := untar(t, filepath.Join(dir, archive))
	g.Expect(packed).To(HaveLen(1))
	g.Expect(packed).To(HaveKey("kubectl-navius"))
	plugin := filepath.Join(t.TempDir(), "kubectl-navius")
	g.Expect(os.WriteFile(plugin, packed["kubectl-navius"], 0o755)).To(Succeed())
	pv := command(t, nil, nil, plugin, "--version")
	g.Expect(pv.err).NotTo(HaveOccurred(), pv.String())
	g.Expect(pv.stdout).To(Equal("kubectl navius version " + releaseVersion + "\n"))
	info = command(t, nil, nil, "go", "version", "-m", plugin)
	g.Expect(info.stdout).To(ContainSubstring("\tbuild\tCGO_ENABLED=0\n"))
	var krew struct {
		APIVersion, Kind string
		Metadata         struct{ Name string }
		Spec             struct {
			Version   string
			Platforms []struct {
				Selector         struct{ MatchLabels map[string]string }
				URI, SHA256, Bin string
			}
		}
	}
	g.Expect(yaml.Unmarshal(readAbs(t, filepath.Join(dir, "krew-navius.yaml")), &krew)).To(Succeed())
	g.Expect(krew.APIVersion).To(Equal("krew.googlecontainertools.github.com/v1alpha2"))
	g.Expect(krew.Kind).To(Equal("Plugin"))
	g.Expect(krew.Metadata.Name).To(Equal("navius"), "kubectl-navius is installed as the plugin navius")
	g.Expect(krew.Spec.Version).To(Equal(releaseVersion))
	g.Expect(krew.Spec.Platforms).To(HaveLen(1))
	kp := krew.Spec.Platforms[0]
	g.Expect(kp.Selector.MatchLabels).To(Equal(map[string]string{"os": "linux", "arch": goArch(t)}))
	g.Expect(kp.URI).To(Equal(releaseDownload + "/" + archive))
	g.Expect(kp.Bin).To(Equal("kubectl-navius"))
	sum := sha256.Sum256(readAbs(t, filepath.Join(dir, archive)))
	g.Expect(kp.SHA256).To(Equal(hex.EncodeToString(sum[:])))

	// The SBOM lists the modules linked in, at go.mod's versions.
	var sbom struct {
		SPDXVersion string `json:"spdxVersion"`
		Packages    []struct {
			Name        string `json:"name"`
			VersionInfo string `json:"versionInfo"`
		} `json:"packages"`
	}
	g.Expect(json.Unmarshal(readAbs(t, filepath.Join(dir, "navius-tuner.spdx.json")), &sbom)).To(Succeed())
	g.Expect(sbom.SPDXVersion).To(Equal("SPDX-2.3"))
	for _, mod := range []string{"sigs.k8s.io/controller-runtime", "k8s.io/client-go"} {
		want := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(mod) + ` (v\S+)`).FindStringSubmatch(string(readFile(t, "go.mod")))
		g.Expect(want).To(HaveLen(2), "go.mod requires %s", mod)
		g.Expect(sbom.Packages).To(ContainElement(And(HaveField("Name", mod), HaveField("VersionInfo", want[1]))))
	}
	g.Expect(sbom.Packages).NotTo(ContainElement(HaveField("Name", "gonum.org/v1/plot")), "the lab's plotting is not in the manager")

	// SHA256SUMS names every other file and verifies.
	sums := strings.Fields(string(readAbs(t, filepath.Join(dir, "SHA256SUMS"))))
	g.Expect(sums).To(HaveLen(2 * (len(names) - 1)))
	check := exec.Command("sha256sum", "--check", "--strict", "SHA256SUMS")
	check.Dir = dir
	out, err := check.CombinedOutput()
	g.Expect(err).NotTo(HaveOccurred(), string(out))

	// The image context: the Dockerfile, the binary per platform, CA certificates, passwd.
	for _, f := range []string{"Dockerfile", built.platform + "/manager", "ca-certificates.crt", "passwd", "group"} {
		g.Expect(filepath.Join(context, f)).To(BeARegularFile())
	}
	g.Expect(readAbs(t, filepath.Join(context, "Dockerfile"))).To(Equal(readFile(t, "Dockerfile.release")))
}

// TestReleaseDockerfileNeedsNoRegistry: the release image is built FROM
// scratch and runs nothing at build time, so any engine builds it offline.
func TestReleaseDockerfileNeedsNoRegistry(t *testing.T) {
	g := NewWithT(t)
	var from []string
	for _, line := range strings.Split(string(readFile(t, "Dockerfile.release")), "\n") {
		line = strings.TrimSpace(line)
		g.Expect(line).NotTo(HavePrefix("# syntax"), "a syntax line pulls a frontend image")
		instr := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		g.Expect(instr).NotTo(Equal("RUN"))
		g.Expect(instr).NotTo(Equal("ADD"))
		if instr == "FROM" {
			from = append(from, line)
		}
	}
	g.Expect(from).To(Equal([]string{"FROM scratch"}))
}

// TestReleaseImageReconcilesAProfile builds the release image from what
// `make release` staged, with the container engine (dockerd: .ci/run starts
// it; without one this test fails), installs the release's two manifests on
// the local API server, and runs the image as the manager's ServiceAccount,
// as the Deployment would (non-root, read-only root filesystem, no
// capabilities): it must win leader election, serve its probes and metrics,
// and reconcile a profile.
func TestReleaseImageReconcilesAProfile(t *testing.T) {
	g := NewWithT(t)
	engine := os.Getenv("CONTAINER_TOOL")
	if engine == "" {
		engine = "docker"
	}
	if r := command(t, nil, nil, engine, "info"); r.err != nil {
		t.Fatalf("no working container engine (%s info failed): install docker.io and start dockerd, as .ci/run does\n%s", engine, r)
	}
	_, context := buildRelease(t)

	image := fmt.Sprintf("%s:%s-%d", releaseImageRepo, releaseVersion, os.Getpid())
	b := command(t, nil, nil, engine, "build", "--build-arg", "TARGETOS=linux", "--build-arg", "TARGETARCH="+goArch(t), "-t", image, context)
	g.Expect(b.err).NotTo(HaveOccurred(), b.String())
	t.Cleanup(func() { command(t, nil, nil, engine, "rmi", "--force", image) })
	size := command(t, nil, nil, engine, "image", "inspect", "--format", "{{.Size}} {{.Config.User}} {{json .Config.Entrypoint}}", image)
	g.Expect(size.err).NotTo(HaveOccurred(), size.String())
	t.Logf("release image %s: size, user, entrypoint: %s", image, strings.TrimSpace(size.stdout))
	g.Expect(strings.Fields(size.stdout)[1:]).To(Equal([]string{"65532:65532", `["/manager"]`}))

	// The release's manifests, CRDs first, as install.md says.
	dir, _ := buildRelease(t)
	for _, f := range []string{"navius-tuner.crds.yaml", "navius-tuner.yaml"} {
		r := kubectl(t, nil, "apply", "--server-side", "--force-conflicts", "-f", filepath.Join(dir, f))
		g.Expect(r.err).NotTo(HaveOccurred(), "applying %s: %s", f, r)
	}

	// The kubeconfig of the manager's ServiceAccount, readable by the image's user.
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	g.Expect(writeKubeconfig(kc, env.Config, serviceAccountToken(t, systemNamespace, managerSA))).To(Succeed())
	g.Expect(os.Chmod(kc, 0o644)).To(Succeed())
	probe, metrics := freeAddr(t), freeAddr(t)
	name := fmt.Sprintf("navius-release-test-%d", os.Getpid())
	run := command(t, nil, nil, engine, "run", "--detach", "--name", name, "--network", "host",
		"--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
		"--volume", kc+":/etc/navius/kubeconfig:ro", "--env", "KUBECONFIG=/etc/navius/kubeconfig",
		image, "--leader-elect", "--leader-election-namespace="+systemNamespace,
		"--metrics-bind-address="+metrics, "--health-probe-bind-address="+probe)
	g.Expect(run.err).NotTo(HaveOccurred(), run.String())
	t.Cleanup(func() {
		if t.Failed() {
			logs := command(t, nil, nil, engine, "logs", name)
			t.Logf("the manager in the image:\n%s%s", logs.stdout, logs.stderr)
		}
		command(t, nil, nil, engine, "rm", "--force", name)
	})

	g.Eventually(func() (int, error) {
		if st := command(t, nil, nil, engine, "inspect", "--format", "{{.State.Running}}", name); strings.TrimSpace(st.stdout) != "true" {
			return 0, StopTrying("the manager's container stopped")
		}
		return status(t.Context(), "http://"+probe+"/readyz", "")
	}, 60*time.Second, 250*time.Millisecond).To(Equal(http.StatusOK))
	// The secure metrics endpoint is up (its self-signed certificate made on
	// a read-only filesystem) and asks callers to authenticate.
	g.Eventually(func() (int, error) { return status(t.Context(), "https://"+metrics+"/metrics", "") }, 30*time.Second, 250*time.Millisecond).To(Equal(http.StatusUnauthorized))

	reconcilesAProfile(t, g, "shop-release-image")
}

// TestReleaseWorkflowPublishesWhatReleaseWrites reads
// .github/workflows/release.yaml: a tag runs `make release`, and the GitHub
// release uploads exactly the files the Makefile's list names; the image is
// built from the staged context, pushed and signed by digest; the chart is
// pushed as an OCI artefact.
func TestReleaseWorkflowPublishesWhatReleaseWrites(t *testing.T) {
	g := NewWithT(t)
	var wf struct {
		// YAML 1.1 reads the key on as true.
		On struct {
			Push struct {
				Tags []string `json:"tags"`
			} `json:"push"`
		} `json:"true"`
		Jobs map[string]struct {
			Steps []struct {
				ID   string            `json:"id"`
				Name string            `json:"name"`
				Uses string            `json:"uses"`
				Run  string            `json:"run"`
				Env  map[string]string `json:"env"`
			} `json:"steps"`
		} `json:"jobs"`
	}
	g.Expect(yaml.Unmarshal(readFile(t, ".github/workflows/release.yaml"), &wf)).To(Succeed())
	g.Expect(wf.On.Push.Tags).To(Equal([]string{"v*.*.*"}))
	g.Expect(wf.Jobs).To(HaveKey("release"))

	var script strings.Builder
	for _, s := range wf.Jobs["release"].Steps {
		script.WriteString(s.Run + "\n")
	}
	runs := strings.ReplaceAll(script.String(), "\\\n", " ")
	g.Expect(runs).To(MatchRegexp(`(?m)^make release VERSION="\$\{VERSION\}"`))
	g.Expect(runs).To(MatchRegexp(`docker buildx build --platform linux/amd64,linux/arm64 .*--push .*"_release/\$\{VERSION\}\.image"`))
	g.Expect(runs).To(ContainSubstring(`cosign sign --yes "${IMAGE_REPO}@${DIGEST}"`))
	g.Expect(runs).To(MatchRegexp(`helm push "_release/\$\{VERSION\}/navius-tuner-\$\{CHART_VERSION\}\.tgz" "\$\{CHART_REPO\}"`))
	g.Expect(runs).To(ContainSubstring(`echo "CHART_VERSION=${VERSION#v}"`))

	// The files `gh release create` uploads, with the variables the workflow sets.
	line := regexp.MustCompile(`gh release create (.*)`).FindStringSubmatch(runs)
	g.Expect(line).To(HaveLen(2), "the workflow publishes with gh release create")
	const version = "v1.2.3"
	vars := map[string]string{"VERSION": version, "CHART_VERSION": strings.TrimPrefix(version, "v")}
	var uploaded []string
	for i, word := range strings.Fields(line[1]) {
		word = os.Expand(strings.Trim(word, `"`), func(k string) string { return vars[k] })
		switch {
		case i == 0:
			g.Expect(word).To(Equal(version), "the release is named after the tag")
		case strings.HasPrefix(word, "--"):
		default:
			uploaded = append(uploaded, word)
		}
	}
	want := releaseFiles(t, version, "")
	slices.Sort(uploaded)
	slices.Sort(want)
	g.Expect(uploaded).To(Equal(want), "the workflow uploads other files than `make release` writes (hack/release.sh files)")
	g.Expect(want).To(ContainElements("navius-tuner-manager-linux-amd64", "navius-tuner-manager-linux-arm64",
		"kubectl-navius-linux-amd64.tar.gz", "kubectl-navius-linux-arm64.tar.gz",
		"kubectl-navius-darwin-amd64.tar.gz", "kubectl-navius-darwin-arm64.tar.gz", "krew-navius.yaml"))
	g.Expect(runs).To(ContainSubstring(`RELEASE_DOWNLOAD="${GITHUB_SERVER_URL}/${GITHUB_REPOSITORY}/releases/download/${VERSION}"`),
		"the krew manifest names the repository the release is published in")
}

// readAbs reads a file by its absolute path.
func readAbs(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// untar returns the regular files of a .tgz by name.
func untar(t *testing.T, path string) map[string][]byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(readAbs(t, path)))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[h.Name] = b
		}
	}
}

// TestInstallDocNamesTheReleaseFiles: every file docs/install.md and the
// chart's README download from a release page is one `make release` writes,
// and the chart they install from is where the release workflow pushes it.
func TestInstallDocNamesTheReleaseFiles(t *testing.T) {
	g := NewWithT(t)
	files := releaseFiles(t, "v1.2.3", "")
	workflow := string(readFile(t, ".github/workflows/release.yaml"))
	g.Expect(workflow).To(ContainSubstring("CHART_REPO: oci://ghcr.io/${{ github.repository_owner }}/charts"))
	g.Expect(workflow).To(ContainSubstring("IMAGE_REPO: ghcr.io/${{ github.repository_owner }}/navius-tuner"))
	for _, doc := range []string{"docs/install.md", "dist/chart/README.md", "README.md"} {
		text := string(readFile(t, doc))
		for _, m := range regexp.MustCompile(`releases/download/<version>/(\S+)`).FindAllStringSubmatch(text, -1) {
			g.Expect(files).To(ContainElement(m[1]), "%s downloads %s, which no release holds", doc, m[1])
		}
		for _, m := range regexp.MustCompile("oci://[^\\s`\"]+").FindAllString(text, -1) {
			g.Expect(m).To(Equal("oci://ghcr.io/navius-dev/charts/navius-tuner"), "%s installs the chart from elsewhere than the release pushes it", doc)
		}
	}
	g.Expect(string(readFile(t, "docs/install.md"))).To(ContainSubstring("releases/download/<version>/navius-tuner.crds.yaml"))
}
