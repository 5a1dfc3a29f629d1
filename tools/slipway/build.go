package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// buildResult is the outcome of building one service.
type buildResult struct {
	Service string
	Binary  string
	Took    time.Duration
	Output  string // compiler output
	Err     error
}

// binaryPath is where dev builds and runs a service: <root>/.slipway/bin/<svc>.
func binaryPath(root, svc string) string {
	name := svc
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	return filepath.Join(root, ".slipway", "bin", name)
}

// buildServices runs `go build -o .slipway/bin/<svc> ./services/<svc>/cmd/<svc>`
// in root for every service, at most GOMAXPROCS at a time, and reports each
// start and finish on out. Every build runs to the end so that all compiler
// errors are shown at once; the error names the services that failed.
func buildServices(ctx context.Context, root string, services []string, environ []string, out *console) ([]buildResult, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return nil, fmt.Errorf("find the go command: %w", err)
	}
	results := make([]buildResult, len(services))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, svc := range services {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				results[i] = buildResult{Service: svc, Err: ctx.Err()}
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
		out.Infof("build of %s failed after %s: %v", r.Service, seconds(r.Took), r.Err)
		out.Block(r.Output)
	}
	if len(failed) > 0 {
		return results, fmt.Errorf("build failed: %s", strings.Join(failed, ", "))
	}
	return results, nil
}

func buildService(ctx context.Context, goBin, root, svc string, environ []string, out *console) buildResult {
	r := buildResult{Service: svc, Binary: binaryPath(root, svc)}
	pkg := "./" + filepath.ToSlash(serviceMainDir(svc))
	out.Infof("building %s (%s)", svc, pkg)
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", r.Binary, pkg)
	cmd.Dir = root
	cmd.Env = environ
	start := time.Now()
	output, err := cmd.CombinedOutput()
	r.Took = time.Since(start)
	r.Output = string(output)
	if err != nil {
		r.Err = err
		return r
	}
	out.Infof("built %s in %s", svc, seconds(r.Took))
	return r
}

// seconds formats d as seconds with two decimals: "0.21s".
func seconds(d time.Duration) string {
	return fmt.Sprintf("%.2fs", d.Seconds())
}
