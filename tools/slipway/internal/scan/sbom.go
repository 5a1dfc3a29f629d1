package scan

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/envvar"
	"github.com/slipway-dev/slipway/tools/slipway/internal/report"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// writeSBOMs builds the services into a temporary directory and writes
// dir/<svc>.cdx.json with cyclonedx-gomod bin, which reads the module list
// each binary carries (debug.BuildInfo; -buildvcs=false only leaves out the
// VCS stamp), so the SBOM lists exactly what is linked in. The release flags
// (-trimpath, -ldflags) do not change that list, so a plain build, which
// shares the build cache with slipway dev and the tests, is enough.
func writeSBOMs(ctx context.Context, goBin, root string, environ, services []string, dir string, progress io.Writer) ([]SBOM, error) {
	bins, err := os.MkdirTemp("", "slipway-scan-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(bins)
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}

	// One go build for every service: the shared packages compile once.
	args := []string{"build", "-o", bins + string(filepath.Separator)}
	for _, s := range services {
		args = append(args, "./"+filepath.ToSlash(workspace.MainDir(s)))
	}
	fmt.Fprintf(progress, "scan: building %s for the SBOMs\n", strings.Join(services, ", "))
	start := time.Now()
	build := exec.CommandContext(ctx, goBin, args...)
	build.Dir, build.Env = root, environ
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build the services for the SBOMs: %w\n%s", err, out)
	}
	fmt.Fprintf(progress, "scan: built %d service(s) in %s\n", len(services), report.Seconds(time.Since(start)))

	// cyclonedx-gomod is pinned outside the workspace, in tools/gen.
	genEnv := envvar.Set(environ, "GOWORK", "off")
	var sboms []SBOM
	var failed []string
	for _, s := range services {
		start := time.Now()
		out := filepath.Join(dir, s+".cdx.json")
		bin := filepath.Join(bins, filepath.Base(workspace.BinaryPath(root, s))) // go build -o dir/ names it like dev does
		cmd := exec.CommandContext(ctx, goBin, "tool", "cyclonedx-gomod", "bin", "-json", "-std", "-output", out, bin)
		cmd.Dir, cmd.Env = filepath.Join(root, "tools", "gen"), genEnv
		if output, err := cmd.CombinedOutput(); err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v: %s", s, err, tail(string(output), 5)))
			continue
		}
		sbom, err := checkSBOM(out)
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", s, err))
			continue
		}
		sbom.Service, sbom.Seconds = s, time.Since(start).Seconds()
		sboms = append(sboms, sbom)
		fmt.Fprintf(progress, "scan: SBOM of %s: %s, %d components, in %s\n", s, out, sbom.Components, report.Seconds(time.Since(start)))
	}
	if len(failed) > 0 {
		return sboms, fmt.Errorf("SBOM: %s", strings.Join(failed, "; "))
	}
	return sboms, nil
}

// checkSBOM reads back an SBOM and checks that it is a CycloneDX document.
func checkSBOM(path string) (SBOM, error) {
	data, err := os.ReadFile(path) //nolint:gosec // the SBOM this scan just wrote
	if err != nil {
		return SBOM{}, err
	}
	var doc struct {
		BOMFormat   string            `json:"bomFormat"`
		SpecVersion string            `json:"specVersion"`
		Components  []json.RawMessage `json:"components"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return SBOM{}, fmt.Errorf("%s: %w", path, err)
	}
	if doc.BOMFormat != "CycloneDX" {
		return SBOM{}, fmt.Errorf("%s: bomFormat is %q, not CycloneDX", path, doc.BOMFormat)
	}
	return SBOM{Path: path, SpecVersion: doc.SpecVersion, Components: len(doc.Components)}, nil
}
