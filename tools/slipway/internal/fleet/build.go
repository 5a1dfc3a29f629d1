package fleet

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/report"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// BuildResult is the outcome of building one service.
type BuildResult struct {
	Service string
	Binary  string
	Took    time.Duration
	Output  string // compiler output
	Err     error
}

// BuildServices runs `go build [BuildFlags] -o .slipway/bin/<svc> ./services/<svc>/cmd/<svc>`
// in root for every service, at most GOMAXPROCS at a time, and reports each
// start and finish on out. Every build runs to the end so that all compiler
// errors are shown at once; the error names the services that failed.
func BuildServices(ctx context.Context, root string, services []string, environ []string, out *Console) ([]BuildResult, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return nil, fmt.Errorf("find the go command: %w", err)
	}
	results := make([]BuildResult, len(services))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, svc := range services {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				results[i] = BuildResult{Service: svc, Err: ctx.Err()}
				return
			}
			defer func() { <-sem }()
			results[i] = buildService(ctx, goBin, root, svc, environ, out)
		})
	}
	wg.Wait()

	if err := ctx.Err(); err != nil {
		return results, err
	}
	var failed []string
	for _, r := range results {
		if r.Err == nil {
			continue
		}
		failed = append(failed, r.Service)
		out.Infof("build of %s failed after %s: %v", r.Service, report.Seconds(r.Took), r.Err)
		out.Block(r.Output)
	}
	if len(failed) > 0 {
		return results, fmt.Errorf("build failed: %s", strings.Join(failed, ", "))
	}
	return results, nil
}

func buildService(ctx context.Context, goBin, root, svc string, environ []string, out *Console) BuildResult {
	out.Infof("building %s (./%s)", svc, filepath.ToSlash(workspace.MainDir(svc)))
	r := BuildBinary(ctx, goBin, root, svc, workspace.BinaryPath(root, svc), environ, BuildFlags...)
	if r.Err == nil {
		out.Infof("built %s in %s", svc, report.Seconds(r.Took))
	}
	return r
}

// BuildFlags are the go build flags of every dev build, the first one
// and hot reload's alike, so that they share the build cache and a second
// dev with nothing changed relinks nothing.
//
//   - -ldflags=-s -w: no symbol table and no DWARF. Linking is most of a
//     reload's build, and the debug information the larger part of what it
//     writes (slipway bench reload). Stack traces, panics and pprof keep
//     their function names and lines (they come from the pclntab); a
//     debugger gets a build of its own from slipway debug, with everything.
//   - -buildvcs=false: no git status per build; the version dev binaries
//     report does not come from VCS stamping anyway.
//
// No -trimpath: the compiled packages are then the ones go test and gopls
// cache as well, and stack traces name the files of the checkout.
var BuildFlags = []string{"-ldflags=-s -w", "-buildvcs=false"}
