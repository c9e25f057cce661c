// Command sbom writes an SPDX 2.3 (JSON) software bill of materials of a Go
// binary: the module graph the Go toolchain recorded in it, as
// `go version -m BINARY` prints it. `make release` runs it on the manager it
// built; it needs no tool but the Go toolchain.
//
// usage: go run ./hack/sbom -name navius-tuner -version v1.2.3 BINARY > navius-tuner.spdx.json
//
// The document's creation time is SOURCE_DATE_EPOCH when set (the release
// sets the commit's time, so the same commit gives the same document), else now.
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// module is one module of a binary's build information.
type module struct {
	Path, Version, Sum string
}

// buildInfo is what `go version -m` says about a binary.
type buildInfo struct {
	GoVersion string
	// Package is the main package's import path.
	Package string
	Main    module
	// Deps are the modules linked in, each replaced by its replacement when it has one.
	Deps []module
	// Settings are the build settings (CGO_ENABLED, GOOS, GOARCH, -ldflags...), in order.
	Settings [][2]string
}

// parse reads the output of `go version -m BINARY`.
func parse(r io.Reader) (buildInfo, error) {
	var bi buildInfo
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	first := true
	for sc.Scan() {
		line := sc.Text()
		if first {
			first = false
			// "/path/to/binary: go1.26.8"
			i := strings.LastIndex(line, ": ")
			if i < 0 || strings.HasPrefix(line, "\t") {
				return bi, fmt.Errorf("not the output of `go version -m`: first line %q", line)
			}
			bi.GoVersion = strings.TrimSpace(line[i+2:])
			continue
		}
		f := strings.Split(strings.TrimPrefix(line, "\t"), "\t")
		switch f[0] {
		case "path":
			if len(f) > 1 {
				bi.Package = f[1]
			}
		case "mod":
			bi.Main = moduleOf(f[1:])
		case "dep":
			bi.Deps = append(bi.Deps, moduleOf(f[1:]))
		case "=>":
			if len(bi.Deps) == 0 {
				return bi, fmt.Errorf("a replacement before any dep: %q", line)
			}
			bi.Deps[len(bi.Deps)-1] = moduleOf(f[1:])
		case "build":
			if len(f) > 1 {
				k, v, _ := strings.Cut(f[1], "=")
				if uq, err := strconv.Unquote(v); err == nil {
					v = uq
				}
				bi.Settings = append(bi.Settings, [2]string{k, v})
			}
		}
	}
	if err := sc.Err(); err != nil {
		return bi, err
	}
	if bi.GoVersion == "" || bi.Main.Path == "" {
		return bi, errors.New("no Go version or main module: is this a Go binary built with module support?")
	}
	return bi, nil
}

func moduleOf(f []string) module {
	var m module
	if len(f) > 0 {
		m.Path = f[0]
	}
	if len(f) > 1 {
		m.Version = f[1]
	}
	if len(f) > 2 {
		m.Sum = f[2]
	}
	return m
}

// The SPDX 2.3 JSON document, with the fields this generator fills.
type document struct {
	SPDXVersion       string         `json:"spdxVersion"`
	DataLicense       string         `json:"dataLicense"`
	SPDXID            string         `json:"SPDXID"`
	Name              string         `json:"name"`
	DocumentNamespace string         `json:"documentNamespace"`
	CreationInfo      creationInfo   `json:"creationInfo"`
	Packages          []pkg          `json:"packages"`
	Relationships     []relationship `json:"relationships"`
}

type creationInfo struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

type pkg struct {
	Name             string        `json:"name"`
	SPDXID           string        `json:"SPDXID"`
	VersionInfo      string        `json:"versionInfo,omitempty"`
	Supplier         string        `json:"supplier"`
	DownloadLocation string        `json:"downloadLocation"`
	FilesAnalyzed    bool          `json:"filesAnalyzed"`
	LicenseConcluded string        `json:"licenseConcluded"`
	LicenseDeclared  string        `json:"licenseDeclared"`
	CopyrightText    string        `json:"copyrightText"`
	PrimaryPurpose   string        `json:"primaryPackagePurpose,omitempty"`
	Comment          string        `json:"comment,omitempty"`
	ExternalRefs     []externalRef `json:"externalRefs,omitempty"`
}

type externalRef struct {
	ReferenceCategory string `json:"referenceCategory"`
	ReferenceType     string `json:"referenceType"`
	ReferenceLocator  string `json:"referenceLocator"`
}

type relationship struct {
	SPDXElementID      string `json:"spdxElementId"`
	RelationshipType   string `json:"relationshipType"`
	RelatedSPDXElement string `json:"relatedSpdxElement"`
}

const noAssertion = "NOASSERTION"

// spdxIDChars are the characters an SPDX identifier may hold after "SPDXRef-".
var notSPDXIDChar = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

// purl is the package URL of a Go module (pkg:golang/...).
func purl(path, version string) string {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	p := "pkg:golang/" + strings.Join(segs, "/")
	if version != "" && version != "(devel)" {
		p += "@" + url.PathEscape(version)
	}
	return p
}

// newDocument describes the binary of bi, named name at version: the binary
// is the package the document describes, and it depends on the Go standard
// library and on every module linked in.
func newDocument(bi buildInfo, name, version string, created time.Time) document {
	ids := map[string]bool{}
	id := func(s string) string {
		base := "SPDXRef-Package-" + strings.Trim(notSPDXIDChar.ReplaceAllString(s, "-"), "-")
		out := base
		for n := 2; ids[out]; n++ {
			out = fmt.Sprintf("%s-%d", base, n)
		}
		ids[out] = true
		return out
	}
	var settings []string
	for _, s := range bi.Settings {
		settings = append(settings, s[0]+"="+s[1])
	}
	root := pkg{
		Name:             name,
		SPDXID:           id(name),
		VersionInfo:      version,
		Supplier:         noAssertion,
		DownloadLocation: noAssertion,
		LicenseConcluded: noAssertion,
		LicenseDeclared:  noAssertion,
		CopyrightText:    noAssertion,
		PrimaryPurpose:   "APPLICATION",
		Comment:          fmt.Sprintf("The binary of %s (module %s), built with %s: %s", bi.Package, bi.Main.Path, bi.GoVersion, strings.Join(settings, " ")),
		ExternalRefs:     []externalRef{{"PACKAGE-MANAGER", "purl", purl(bi.Main.Path, version)}},
	}
	stdlib := pkg{
		Name:             "stdlib",
		SPDXID:           id("stdlib-" + bi.GoVersion),
		VersionInfo:      bi.GoVersion,
		Supplier:         noAssertion,
		DownloadLocation: "https://go.dev/dl/",
		LicenseConcluded: noAssertion,
		LicenseDeclared:  noAssertion,
		CopyrightText:    noAssertion,
		PrimaryPurpose:   "LIBRARY",
		ExternalRefs:     []externalRef{{"PACKAGE-MANAGER", "purl", purl("stdlib", bi.GoVersion)}},
	}
	doc := document{
		SPDXVersion: "SPDX-2.3",
		DataLicense: "CC0-1.0",
		SPDXID:      "SPDXRef-DOCUMENT",
		Name:        name + "-" + version,
		CreationInfo: creationInfo{
			Created:  created.UTC().Format(time.RFC3339),
			Creators: []string{"Tool: navius-tuner-hack-sbom", "Organization: navius-dev"},
		},
		Packages: []pkg{root, stdlib},
		Relationships: []relationship{
			{"SPDXRef-DOCUMENT", "DESCRIBES", root.SPDXID},
			{root.SPDXID, "DEPENDS_ON", stdlib.SPDXID},
		},
	}
	deps := append([]module(nil), bi.Deps...)
	sort.Slice(deps, func(i, j int) bool { return deps[i].Path < deps[j].Path })
	hash := sha256.New()
	fmt.Fprintln(hash, name, version, bi.GoVersion, strings.Join(settings, " "))
	for _, d := range deps {
		fmt.Fprintln(hash, d.Path, d.Version, d.Sum)
		p := pkg{
			Name:             d.Path,
			SPDXID:           id(d.Path + "-" + d.Version),
			VersionInfo:      d.Version,
			Supplier:         noAssertion,
			DownloadLocation: noAssertion,
			LicenseConcluded: noAssertion,
			LicenseDeclared:  noAssertion,
			CopyrightText:    noAssertion,
			PrimaryPurpose:   "LIBRARY",
			ExternalRefs:     []externalRef{{"PACKAGE-MANAGER", "purl", purl(d.Path, d.Version)}},
		}
		if d.Version != "" {
			// Where the Go module proxy protocol serves this version's source.
			p.DownloadLocation = "https://proxy.golang.org/" + strings.ToLower(d.Path) + "/@v/" + d.Version + ".zip"
		}
		if d.Sum != "" {
			p.Comment = "go.sum hash " + d.Sum
		}
		doc.Packages = append(doc.Packages, p)
		doc.Relationships = append(doc.Relationships, relationship{root.SPDXID, "DEPENDS_ON", p.SPDXID})
	}
	// Unique for each distinct binary, the same for the same one.
	doc.DocumentNamespace = "https://github.com/navius-dev/navius-tuner/spdx/" + url.PathEscape(name) + "-" + url.PathEscape(version) + "-" + hex.EncodeToString(hash.Sum(nil))[:16]
	return doc
}

// createdAt is SOURCE_DATE_EPOCH when set, else now.
func createdAt(getenv func(string) string, now time.Time) (time.Time, error) {
	s := getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return now, nil
	}
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: %w", s, err)
	}
	return time.Unix(sec, 0), nil
}

// readBinary runs `go version -m` on the binary at path.
func readBinary(path string) (buildInfo, error) {
	out, err := exec.Command("go", "version", "-m", path).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return buildInfo{}, fmt.Errorf("go version -m %s: %w: %s", path, err, ee.Stderr)
		}
		return buildInfo{}, fmt.Errorf("go version -m %s: %w", path, err)
	}
	return parse(strings.NewReader(string(out)))
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("sbom", flag.ContinueOnError)
	name := fs.String("name", "", "name of the software the binary is (required)")
	version := fs.String("version", "", "its version, such as v1.2.3 (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *name == "" || *version == "" || fs.NArg() != 1 {
		return errors.New("usage: sbom -name NAME -version VERSION BINARY")
	}
	bi, err := readBinary(fs.Arg(0))
	if err != nil {
		return err
	}
	created, err := createdAt(os.Getenv, time.Now())
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(newDocument(bi, *name, *version, created))
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "sbom:", err)
		os.Exit(1)
	}
}
