// Command slipway is the developer CLI of the Slipway workspace: one binary,
// one package per verb under internal/ (as cmd/go/internal/<verb>), with
// what verbs share in packages named for what it does. Each verb package
// has a Main(ctx, args, env) that parses its flags and a Run(ctx, opts)
// that tests call directly; this file holds the verb table, maps errors to
// exit codes and wires signals.
//
// Exit codes: 0 ok, 1 a check or command failed, 2 usage error (package cli).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/slipway-dev/slipway/tools/slipway/internal/bench"
	"github.com/slipway-dev/slipway/tools/slipway/internal/chaos"
	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/completion"
	"github.com/slipway-dev/slipway/tools/slipway/internal/cost"
	"github.com/slipway-dev/slipway/tools/slipway/internal/debug"
	"github.com/slipway-dev/slipway/tools/slipway/internal/dev"
	"github.com/slipway-dev/slipway/tools/slipway/internal/doctor"
	"github.com/slipway-dev/slipway/tools/slipway/internal/drift"
	"github.com/slipway-dev/slipway/tools/slipway/internal/help"
	"github.com/slipway-dev/slipway/tools/slipway/internal/load"
	"github.com/slipway-dev/slipway/tools/slipway/internal/migrate"
	"github.com/slipway-dev/slipway/tools/slipway/internal/newcmd"
	"github.com/slipway-dev/slipway/tools/slipway/internal/probe"
	"github.com/slipway-dev/slipway/tools/slipway/internal/ready"
	"github.com/slipway-dev/slipway/tools/slipway/internal/scan"
	"github.com/slipway-dev/slipway/tools/slipway/internal/version"
)

// verbs is a function rather than a package variable because help refers
// back to the list (a variable would be an initialization cycle).
func verbs() []cli.Verb {
	return []cli.Verb{
		{Name: "dev", Summary: "build and run every service with a prefixed log stream until Ctrl-C", Main: dev.Main},
		{Name: "probe", Summary: "gRPC health probe (exit 0 when SERVING) for compose and Kubernetes", Main: probe.Main},
		{Name: "debug", Summary: "run one service under Delve (headless dlv on 127.0.0.1:2345, or --dap) for an editor to attach", Main: debug.Main},
		{Name: "drift", Summary: "compare the config declared in git with running services and Kubernetes objects", Main: drift.Main},
		{Name: "ready", Summary: "SLO baseline gate: check deploy/slo.yaml over a window (scrape /metrics or --prometheus)", Main: ready.Main},
		{Name: "chaos", Summary: "fault experiments (deploy/chaos/*.yaml) under load, with an analysis gate and invariants checked in the databases", Main: chaos.Main},
		{Name: "load", Summary: "open-model load generator: fixed arrival rate, HDR latencies, JSON and HTML report", Main: load.Main},
		{Name: "cost", Summary: "monthly cost of the k8s overlays per cloud, on-demand and spot, and per 1,000 orders from a load report or Prometheus", Main: cost.Main},
		{Name: "new", Summary: "scaffold a service in the shape of Slipway's own and register it everywhere (new service NAME), or add a method (new rpc SERVICE Method)", Main: newcmd.Main},
		{Name: "migrate", Summary: "list or apply every service's database migrations (status|up), through each binary's own migrate command", Main: migrate.Main},
		{Name: "scan", Summary: "govulncheck every module against a local vulnerability database; CycloneDX SBOM per service", Main: scan.Main},
		{Name: "bench", Summary: "measure start to SERVING per service and change to callable (hot reload, with air as the peer)", Main: bench.Main},
		{Name: "doctor", Summary: "check this machine against what Slipway and CI need: one OK/WARN/FAIL row per check, with the fix", Main: doctor.Main},
		{Name: "version", Summary: "print the version, commit and Go version slipway was built with (also --version)", Main: version.Main},
		{Name: "completion", Summary: "print a bash or zsh completion script: source <(slipway completion bash)", Main: completion.Main(verbs)},
		{Name: "help", Summary: "show this help, or the flags of one verb: slipway help <verb>", Main: help.Main(verbs)},
	}
}

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	force := make(chan struct{})
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		// The first signal asks for a graceful stop; the second stops waiting.
		<-signals
		cancel()
		<-signals
		close(force)
	}()

	env := &cli.Env{Stdout: os.Stdout, Stderr: os.Stderr, Environ: os.Environ(), Force: force}
	code := run(ctx, os.Args[1:], env)
	cancel()
	os.Exit(code)
}

// run dispatches args to a verb and returns the process exit code.
func run(ctx context.Context, args []string, env *cli.Env) int {
	if len(args) == 0 {
		help.PrintUsage(env.Stderr, verbs())
		return cli.ExitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "-h", "-help", "--help":
		name = "help"
	case "-version", "--version":
		name = "version"
	}
	for _, v := range verbs() {
		if v.Name == name {
			return cli.ExitCode(env.Stderr, v.Name, v.Main(ctx, rest, env))
		}
	}
	fmt.Fprintf(env.Stderr, "slipway: unknown verb %q\n\n", name)
	help.PrintUsage(env.Stderr, verbs())
	return cli.ExitUsage
}
