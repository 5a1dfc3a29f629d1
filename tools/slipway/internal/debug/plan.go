package debug

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/envvar"
	"github.com/slipway-dev/slipway/tools/slipway/internal/fleet"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// Plan is what Run starts.
type Plan struct {
	Service fleet.Service // addresses and environment, as dev would run it
	Args    []string      // arguments of the go command: tool dlv ...
	Attach  string        // address a debugger client dials
	Build   string        // go build flags of the debug build, as dlv's --build-flags takes them
	Broker  bool          // the service needs NATS and the environment has none
}

// newPlan works out the dlv command line and the service's environment.
func newPlan(root string, opts Options, version string) (Plan, error) {
	var def workspace.Service
	for _, d := range workspace.Known {
		if d.Name == opts.Service {
			def = d
		}
	}
	dev := fleet.Options{Host: opts.Host, GRPCBase: opts.GRPCBase, HTTPBase: opts.HTTPBase, Environ: opts.Environ}
	plan, err := fleet.Plan(root, []workspace.Service{def}, dev.WithDefaults())
	if err != nil {
		return Plan{}, err
	}
	attach, err := workspace.DialAddr(opts.Listen)
	if err != nil {
		return Plan{}, err
	}
	p := Plan{Service: plan[0], Attach: attach, Build: buildFlags(version)}
	if _, set := envvar.Lookup(opts.Environ, "NATS_URL"); !set && slices.Contains(brokerServices, opts.Service) {
		p.Broker = true
	}
	if opts.DAP {
		p.Args = []string{"tool", "dlv", "dap", "--listen=" + opts.Listen}
		return p, nil
	}
	output := opts.Output
	if output == "" {
		output = filepath.Join(root, ".slipway", "bin", opts.Service+".debug")
	}
	p.Args = []string{
		"tool", "dlv", "debug", "./" + filepath.ToSlash(workspace.MainDir(opts.Service)),
		"--headless", "--listen=" + opts.Listen, "--api-version=2", "--accept-multiclient", "--continue",
		"--output=" + output,
		"--build-flags=" + p.Build,
	}
	if len(opts.Args) > 0 {
		p.Args = append(append(p.Args, "--"), opts.Args...)
	}
	return p, nil
}

// buildFlags are the go build flags of a debug build, quoted the way
// dlv splits --build-flags (single quotes).
func buildFlags(version string) string {
	return fmt.Sprintf("-gcflags='%s' -ldflags='-X %s=%s'", gcFlags, versionVar, version)
}

// workspaceVersion is what buildflags.mk calls VERSION: git describe, or dev.
func workspaceVersion(ctx context.Context, root string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "git", "-C", root, "describe", "--tags", "--always", "--dirty").Output()
	if v := strings.TrimSpace(string(out)); err == nil && v != "" && !strings.ContainsAny(v, "' ") {
		return v
	}
	return "dev"
}
