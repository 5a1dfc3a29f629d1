// Package help is the help verb: the list of verbs, or the flags of one.
package help

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
)

// Options are the inputs of Run.
type Options struct {
	Verb   string     // "" lists the verbs; a name shows that verb's flags
	Verbs  []cli.Verb // main's verb table
	Stdout io.Writer
	env    *cli.Env
}

// Main returns the help verb's entry point; verbs is main's verb table (a
// function, as the table lists help itself).
func Main(verbs func() []cli.Verb) func(context.Context, []string, *cli.Env) error {
	return func(ctx context.Context, args []string, env *cli.Env) error {
		if len(args) > 1 {
			return cli.UsageErrorf("help takes at most one verb, got %q", args)
		}
		opts := Options{Verbs: verbs(), Stdout: env.Stdout, env: env}
		if len(args) == 1 {
			opts.Verb = args[0]
		}
		return Run(ctx, opts)
	}
}

// Run prints the list of verbs, or one verb's usage.
func Run(ctx context.Context, opts Options) error {
	if opts.Verb == "" {
		PrintUsage(opts.Stdout, opts.Verbs)
		return nil
	}
	for _, v := range opts.Verbs {
		if v.Name != opts.Verb || v.Name == "help" {
			continue
		}
		// Every verb prints its usage on -h and returns flag.ErrHelp.
		env := cli.Env{Stdout: opts.Stdout, Stderr: opts.Stdout}
		if opts.env != nil {
			env.Environ = opts.env.Environ
		}
		return v.Main(ctx, []string{"-h"}, &env)
	}
	if opts.Verb == "help" {
		PrintUsage(opts.Stdout, opts.Verbs)
		return nil
	}
	return cli.UsageErrorf("unknown verb %q", opts.Verb)
}

// PrintUsage prints what slipway is, its verbs with their summaries and the
// exit codes: the text of `slipway help` and of a command line without a verb.
func PrintUsage(w io.Writer, verbs []cli.Verb) {
	fmt.Fprint(w, "slipway is the developer CLI of the Slipway workspace.\n\nusage: slipway <verb> [flags]\n\nverbs:\n")
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	for _, v := range verbs {
		fmt.Fprintf(tw, "  %s\t%s\n", v.Name, v.Summary)
	}
	_ = tw.Flush()
	fmt.Fprint(w, "\nRun 'slipway help <verb>' for the flags of a verb.\n"+
		"Exit codes: 0 ok, 1 check or command failed, 2 usage error.\n")
}
