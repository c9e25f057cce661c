// Command krew packs the kubectl-navius binaries of a release as krew wants
// them (one .tar.gz per platform, holding the binary) and writes the krew
// plugin manifest that installs them from the release's download URL:
//
//	kubectl krew install --manifest=krew-navius.yaml
//
// `make release` runs it; it needs no tool but the Go toolchain, and the
// same binaries give the same archives (no times, owners or names from the
// build machine).
//
// usage: go run ./hack/krew -version v1.2.3 -download https://…/releases/download/v1.2.3 -out DIR os/arch=BINARY...
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// Names of what it writes; hack/release.sh lists the same.
const (
	binary       = "kubectl-navius"
	manifestName = "krew-navius.yaml"
)

// ArchiveName is the archive of one platform.
func ArchiveName(goos, goarch string) string {
	return fmt.Sprintf("%s-%s-%s.tar.gz", binary, goos, goarch)
}

// The krew manifest (krew.googlecontainertools.github.com/v1alpha2 Plugin).
type manifest struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec spec `json:"spec"`
}

type spec struct {
	Version          string     `json:"version"`
	Homepage         string     `json:"homepage"`
	ShortDescription string     `json:"shortDescription"`
	Description      string     `json:"description"`
	Platforms        []platform `json:"platforms"`
}

type platform struct {
	Selector struct {
		MatchLabels map[string]string `json:"matchLabels"`
	} `json:"selector"`
	URI    string `json:"uri"`
	SHA256 string `json:"sha256"`
	Bin    string `json:"bin"`
}

const description = `kubectl navius shows what navius-tuner does to the workloads its
PerformanceProfiles tune and why (status, why, history, diff), pauses and
resumes a profile, and checks before a profile is applied which knob
families the service's metrics let navius-tuner tune (check).`

func main() {
	version := flag.String("version", "", "the release version, such as v1.2.3")
	download := flag.String("download", "", "the URL the release's files are downloaded from")
	out := flag.String("out", "", "the directory to write the archives and the manifest into")
	flag.Parse()
	if err := run(*version, *download, *out, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "krew:", err)
		os.Exit(1)
	}
}

func run(version, download, out string, binaries []string) error {
	if version == "" || download == "" || out == "" || len(binaries) == 0 {
		return errors.New("usage: krew -version V -download URL -out DIR os/arch=BINARY [os/arch=BINARY]")
	}
	m := manifest{APIVersion: "krew.googlecontainertools.github.com/v1alpha2", Kind: "Plugin"}
	m.Metadata.Name = "navius"
	m.Spec = spec{Version: version, Homepage: "https://github.com/navius-dev/navius-tuner",
		ShortDescription: "See what navius-tuner does and why; check a profile's metrics", Description: description}
	for _, arg := range binaries {
		plat, bin, ok := strings.Cut(arg, "=")
		goos, goarch, ok2 := strings.Cut(plat, "/")
		if !ok || !ok2 || goos == "" || goarch == "" {
			return fmt.Errorf("%q is not os/arch=BINARY", arg)
		}
		archive, err := pack(bin)
		if err != nil {
			return err
		}
		name := ArchiveName(goos, goarch)
		if err := os.WriteFile(filepath.Join(out, name), archive, 0o644); err != nil {
			return err
		}
		sum := sha256.Sum256(archive)
		p := platform{URI: strings.TrimSuffix(download, "/") + "/" + name, SHA256: hex.EncodeToString(sum[:]), Bin: binary}
		p.Selector.MatchLabels = map[string]string{"os": goos, "arch": goarch}
		m.Spec.Platforms = append(m.Spec.Platforms, p)
	}
	b, err := yaml.Marshal(m)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, manifestName), b, 0o644)
}

// pack returns a .tar.gz holding the binary as kubectl-navius, executable,
// with no time, owner or name of the build machine.
func pack(bin string) ([]byte, error) {
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	hdr := &tar.Header{Name: binary, Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg,
		ModTime: time.Unix(0, 0), Format: tar.FormatUSTAR}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, err
	}
	if _, err := tw.Write(data); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
