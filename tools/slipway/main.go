// Command slipway is the developer CLI of the Slipway workspace: one binary,
// one file per verb. Every verb is a run<Verb>(ctx, opts) error that tests
// call directly; main only parses flags, maps errors to exit codes and wires
// signals.
//
// Exit codes: 0 ok, 1 a check or command failed, 2 usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/slipway-dev/slipway/tools/slipway/internal/envvar"
)

// Exit codes CI can rely on.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

// cmdEnv is what main hands to every verb: where output goes, the process
// environment, and a channel closed on the second interrupt (stop waiting for
// graceful shutdowns, kill).
type cmdEnv struct {
	stdout  io.Writer
	stderr  io.Writer
	environ []string
	force   <-chan struct{}
}

func (e *cmdEnv) getenv(key string) string {
	v, _ := envvar.Lookup(e.environ, key)
	return v
}

// verb is one subcommand: its name, a one-line summary for the usage text and
// its entry point, which parses args and calls run<Verb>.
type verb struct {
	name    string
	summary string
	main    func(ctx context.Context, args []string, env *cmdEnv) error
}

// verbs is a function rather than a package variable because help refers
// back to the list (a variable would be an initialization cycle).
func verbs() []verb {
	return []verb{
		{"dev", "build and run every service with a prefixed log stream until Ctrl-C", devMain},
		{"probe", "gRPC health probe (exit 0 when SERVING) for compose and Kubernetes", probeMain},
		{"debug", "run one service under Delve (headless dlv on 127.0.0.1:2345, or --dap) for an editor to attach", debugMain},
		{"drift", "compare the config declared in git with running services and Kubernetes objects", driftMain},
		{"ready", "SLO baseline gate: check deploy/slo.yaml over a window (scrape /metrics or --prometheus)", readyMain},
		{"chaos", "fault experiments (deploy/chaos/*.yaml) under load, with an analysis gate and invariants checked in the databases", chaosMain},
		{"load", "open-model load generator: fixed arrival rate, HDR latencies, JSON and HTML report", loadMain},
		{"scan", "govulncheck every module against a local vulnerability database; CycloneDX SBOM per service", scanMain},
		{"bench", "measure start to SERVING per service and change to callable (hot reload, with air as the peer)", benchMain},
		{"doctor", "check this machine against what Slipway and CI need: one OK/WARN/FAIL row per check, with the fix", doctorMain},
		{"version", "print the version, commit and Go version slipway was built with (also --version)", versionMain},
		{"completion", "print a bash or zsh completion script: source <(slipway completion bash)", completionMain},
		{"help", "show this help, or the flags of one verb: slipway help <verb>", helpMain},
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

	env := &cmdEnv{stdout: os.Stdout, stderr: os.Stderr, environ: os.Environ(), force: force}
	code := run(ctx, os.Args[1:], env)
	cancel()
	os.Exit(code)
}

// run dispatches args to a verb and returns the process exit code.
func run(ctx context.Context, args []string, env *cmdEnv) int {
	if len(args) == 0 {
		printUsage(env.stderr)
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "-h", "-help", "--help":
		name = "help"
	case "-version", "--version":
		name = "version"
	}
	for _, v := range verbs() {
		if v.name == name {
			return exitCode(env.stderr, v.name, v.main(ctx, rest, env))
		}
	}
	fmt.Fprintf(env.stderr, "slipway: unknown verb %q\n\n", name)
	printUsage(env.stderr)
	return exitUsage
}

// usageError marks a mistake in the command line (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// exitCode reports err on w and maps it to an exit code.
func exitCode(w io.Writer, verb string, err error) int {
	var uerr usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &uerr):
		// The flag package has already printed parse errors with the usage.
		if !errors.Is(err, errFlagParse) {
			fmt.Fprintf(w, "slipway %s: %v\n", verb, err)
		}
		return exitUsage
	default:
		fmt.Fprintf(w, "slipway %s: %v\n", verb, err)
		return exitFailed
	}
}

// errFlagParse wraps errors the flag package already printed.
var errFlagParse = errors.New("invalid flags")

// newFlagSet returns a flag set that reports to w and prints a usage text
// made of the synopsis, the description and the flag defaults. When w is a
// *flagCollector (completion), the flag set is also handed to it.
func newFlagSet(w io.Writer, name, synopsis, description string) *flag.FlagSet {
	fs := flag.NewFlagSet("slipway "+name, flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {
		fmt.Fprintf(w, "usage: slipway %s %s\n\n%s\n\nflags:\n", name, synopsis, description)
		printDefaults(w, fs)
	}
	if c, ok := w.(*flagCollector); ok {
		c.sets = append(c.sets, fs)
	}
	return fs
}

// printDefaults is fs.PrintDefaults with every flag spelt --name, as the
// README and the descriptions spell them (the flag package accepts both).
func printDefaults(w io.Writer, fs *flag.FlagSet) {
	var b strings.Builder
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(w)
	for line := range strings.Lines(b.String()) {
		if rest, ok := strings.CutPrefix(line, "  -"); ok && !strings.HasPrefix(rest, "-") {
			line = "  --" + rest
		}
		_, _ = io.WriteString(w, line)
	}
}

// parseFlags parses args into fs and turns failures into usage errors.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{fmt.Errorf("%w: %w", errFlagParse, err)}
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected arguments: %q", fs.Args())
	}
	return nil
}
