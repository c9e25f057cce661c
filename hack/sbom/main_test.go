package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// goVersionM is `go version -m` output of a manager build: a main module
// without a version (-buildvcs=false), a replaced dependency, quoted settings.
const goVersionM = `/tmp/navius-tuner-manager-linux-amd64: go1.26.8
	path	github.com/navius-dev/navius-tuner/cmd/manager
	mod	github.com/navius-dev/navius-tuner	(devel)	
	dep	github.com/beorn7/perks	v1.0.1	h1:VlbKKnNfV8bJzeqoa4cOKqO6bYr3WgKZxO8Z16+hsOM=
	dep	k8s.io/client-go	v0.35.0	h1:aaaa=
	=>	example.com/fork/client-go	v0.35.1-fork	h1:bbbb=
	dep	sigs.k8s.io/controller-runtime	v0.25.2	h1:cccc=
	build	-buildmode=exe
	build	-compiler=gc
	build	-trimpath=true
	build	-ldflags="-s -w -X github.com/navius-dev/navius-tuner/internal/version.Version=v1.2.3"
	build	CGO_ENABLED=0
	build	GOARCH=amd64
	build	GOOS=linux
`

func TestParseReadsModulesReplacementsAndSettings(t *testing.T) {
	g := NewWithT(t)
	bi, err := parse(strings.NewReader(goVersionM))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(bi.GoVersion).To(Equal("go1.26.8"))
	g.Expect(bi.Package).To(Equal("github.com/navius-dev/navius-tuner/cmd/manager"))
	g.Expect(bi.Main).To(Equal(module{Path: "github.com/navius-dev/navius-tuner", Version: "(devel)"}))
	g.Expect(bi.Deps).To(Equal([]module{
		{"github.com/beorn7/perks", "v1.0.1", "h1:VlbKKnNfV8bJzeqoa4cOKqO6bYr3WgKZxO8Z16+hsOM="},
		// The replacement is what is linked in.
		{"example.com/fork/client-go", "v0.35.1-fork", "h1:bbbb="},
		{"sigs.k8s.io/controller-runtime", "v0.25.2", "h1:cccc="},
	}))
	g.Expect(bi.Settings).To(ContainElements(
		[2]string{"CGO_ENABLED", "0"},
		[2]string{"-ldflags", "-s -w -X github.com/navius-dev/navius-tuner/internal/version.Version=v1.2.3"},
	))
}

func TestParseRejectsWhatIsNotGoVersionOutput(t *testing.T) {
	for _, in := range []string{"", "\tdep\tx\tv1\n", "/bin/sh: could not read Go build info\n"} {
		if _, err := parse(strings.NewReader(in)); err == nil {
			t.Errorf("parse(%q): no error", in)
		}
	}
}

// TestDocumentIsSPDX23: the fields SPDX 2.3 requires, identifiers of the
// allowed form and unique, the binary as what the document describes, and one
// DEPENDS_ON from it to the standard library and to every module, each with
// its package URL.
func TestDocumentIsSPDX23(t *testing.T) {
	g := NewWithT(t)
	bi, err := parse(strings.NewReader(goVersionM))
	g.Expect(err).NotTo(HaveOccurred())
	created := time.Date(2026, 12, 6, 18, 0, 0, 0, time.UTC)
	doc := newDocument(bi, "navius-tuner", "v1.2.3", created)

	raw, err := json.Marshal(doc)
	g.Expect(err).NotTo(HaveOccurred())
	var m map[string]any
	g.Expect(json.Unmarshal(raw, &m)).To(Succeed())
	g.Expect(m).To(HaveKeyWithValue("spdxVersion", "SPDX-2.3"))
	g.Expect(m).To(HaveKeyWithValue("dataLicense", "CC0-1.0"))
	g.Expect(m).To(HaveKeyWithValue("SPDXID", "SPDXRef-DOCUMENT"))
	g.Expect(m).To(HaveKeyWithValue("name", "navius-tuner-v1.2.3"))
	g.Expect(m["documentNamespace"]).To(MatchRegexp(`^https://github\.com/navius-dev/navius-tuner/spdx/navius-tuner-v1\.2\.3-[0-9a-f]{16}$`))
	g.Expect(m["creationInfo"]).To(HaveKeyWithValue("created", "2026-12-06T18:00:00Z"))

	idForm := regexp.MustCompile(`^SPDXRef-[A-Za-z0-9.-]+$`)
	seen := map[string]string{}
	purls := map[string]string{}
	for _, p := range doc.Packages {
		g.Expect(p.SPDXID).To(MatchRegexp(idForm.String()))
		g.Expect(seen).NotTo(HaveKey(p.SPDXID), "duplicate SPDXID")
		seen[p.SPDXID] = p.Name
		g.Expect(p.DownloadLocation).NotTo(BeEmpty())
		g.Expect(p.ExternalRefs).To(HaveLen(1))
		purls[p.Name] = p.ExternalRefs[0].ReferenceLocator
	}
	g.Expect(purls).To(Equal(map[string]string{
		"navius-tuner":                   "pkg:golang/github.com/navius-dev/navius-tuner@v1.2.3",
		"stdlib":                         "pkg:golang/stdlib@go1.26.8",
		"github.com/beorn7/perks":        "pkg:golang/github.com/beorn7/perks@v1.0.1",
		"example.com/fork/client-go":     "pkg:golang/example.com/fork/client-go@v0.35.1-fork",
		"sigs.k8s.io/controller-runtime": "pkg:golang/sigs.k8s.io/controller-runtime@v0.25.2",
	}))

	root := doc.Packages[0].SPDXID
	g.Expect(doc.Packages[0].Comment).To(ContainSubstring("GOARCH=amd64"))
	var describes []string
	dependsOn := map[string]bool{}
	for _, r := range doc.Relationships {
		g.Expect(seen).To(HaveKey(r.RelatedSPDXElement), "a relationship to an unknown element")
		switch r.RelationshipType {
		case "DESCRIBES":
			describes = append(describes, r.RelatedSPDXElement)
		case "DEPENDS_ON":
			g.Expect(r.SPDXElementID).To(Equal(root))
			dependsOn[seen[r.RelatedSPDXElement]] = true
		}
	}
	g.Expect(describes).To(Equal([]string{root}))
	g.Expect(dependsOn).To(HaveLen(len(doc.Packages) - 1))

	// The same binary gives the same document; another gives another namespace.
	again := newDocument(bi, "navius-tuner", "v1.2.3", created)
	g.Expect(again).To(Equal(doc))
	bi.Deps[0].Version = "v1.0.2"
	g.Expect(newDocument(bi, "navius-tuner", "v1.2.3", created).DocumentNamespace).NotTo(Equal(doc.DocumentNamespace))
}

func TestCreatedIsSourceDateEpochWhenSet(t *testing.T) {
	g := NewWithT(t)
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	got, err := createdAt(func(string) string { return "" }, now)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got).To(Equal(now))
	got, err = createdAt(func(string) string { return "1796580000" }, now)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got.UTC()).To(Equal(time.Unix(1796580000, 0).UTC()))
	_, err = createdAt(func(string) string { return "yesterday" }, now)
	g.Expect(err).To(HaveOccurred())
}

// TestRunDescribesARealBinary builds this command and runs it on its own
// binary (a test binary records no modules): the document names the Go
// release that built it and the build settings. The release test
// (test/install) checks the manager's document lists its modules.
func TestRunDescribesARealBinary(t *testing.T) {
	g := NewWithT(t)
	bin := filepath.Join(t.TempDir(), "sbom")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	g.Expect(err).NotTo(HaveOccurred(), string(out))
	var buf bytes.Buffer
	g.Expect(run([]string{"-name", "sbom", "-version", "v0.0.1", bin}, &buf)).To(Succeed())
	var doc document
	g.Expect(json.Unmarshal(buf.Bytes(), &doc)).To(Succeed())
	g.Expect(doc.Packages).To(HaveLen(2), "the command links only the standard library")
	g.Expect(doc.Packages[0].Name).To(Equal("sbom"))
	g.Expect(doc.Packages[0].Comment).To(ContainSubstring("github.com/navius-dev/navius-tuner/hack/sbom"))
	g.Expect(doc.Packages[0].Comment).To(ContainSubstring("CGO_ENABLED=0"))
	g.Expect(doc.Packages[1].VersionInfo).To(Equal(runtime.Version()))

	g.Expect(run([]string{"-name", "x", "-version", "v1", os.DevNull}, &buf)).NotTo(Succeed(), "not a Go binary")
	g.Expect(run([]string{bin}, &buf)).NotTo(Succeed(), "no -name and -version")
}
