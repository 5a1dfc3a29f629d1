package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
)

// helpOptions are the inputs of runHelp.
type helpOptions struct {
	Verb   string // "" lists the verbs; a name shows that verb's flags
	Stdout io.Writer
	env    *cli.Env
}

func helpMain(ctx context.Context, args []string, env *cli.Env) error {
	if len(args) > 1 {
		return cli.UsageErrorf("help takes at most one verb, got %q", args)
	}
	opts := helpOptions{Stdout: env.Stdout, env: env}
	if len(args) == 1 {
		opts.Verb = args[0]
	}
	return runHelp(ctx, opts)
}

// runHelp prints the list of verbs, or one verb's usage.
func runHelp(ctx context.Context, opts helpOptions) error {
	if opts.Verb == "" {
		printUsage(opts.Stdout)
		return nil
	}
	for _, v := range verbs() {
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
		printUsage(opts.Stdout)
		return nil
	}
	return cli.UsageErrorf("unknown verb %q", opts.Verb)
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, "slipway is the developer CLI of the Slipway workspace.\n\nusage: slipway <verb> [flags]\n\nverbs:\n")
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	for _, v := range verbs() {
		fmt.Fprintf(tw, "  %s\t%s\n", v.Name, v.Summary)
	}
	_ = tw.Flush()
	fmt.Fprint(w, "\nRun 'slipway help <verb>' for the flags of a verb.\n"+
		"Exit codes: 0 ok, 1 check or command failed, 2 usage error.\n")
}
