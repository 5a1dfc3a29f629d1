// Package completion is the completion verb: bash and zsh scripts that
// complete slipway's verbs and each verb's flags, asked of the verbs
// themselves.
package completion

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
)

// subverbs are the verbs that take a sub-verb before their flags.
var subverbs = map[string][]string{"bench": {"startup", "reload"}, "migrate": {"status", "up"}}

// Options are the inputs of Run.
type Options struct {
	Shell  string     // bash or zsh
	Verbs  []cli.Verb // what the script completes, in the order of the usage text
	Stdout io.Writer
}

// Main returns the completion verb's entry point; verbs is main's verb table
// (a function, as the table lists completion itself).
func Main(verbs func() []cli.Verb) func(context.Context, []string, *cli.Env) error {
	return func(ctx context.Context, args []string, env *cli.Env) error {
		return run(ctx, args, env, verbs())
	}
}

func run(ctx context.Context, args []string, env *cli.Env, verbs []cli.Verb) error {
	fs := cli.NewFlagSet(env.Stderr, "completion", "bash|zsh",
		"Prints a script that completes slipway's verbs and each verb's flags.\n\n"+
			"  bash: source <(slipway completion bash)     (or save it under /etc/bash_completion.d)\n"+
			"  zsh:  source <(slipway completion zsh)      (after compinit)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return cli.UsageError{Err: fmt.Errorf("%w: %w", cli.ErrFlagParse, err)}
	}
	if fs.NArg() != 1 {
		return cli.UsageErrorf("name one shell: bash or zsh")
	}
	return Run(ctx, Options{Shell: fs.Arg(0), Verbs: verbs, Stdout: env.Stdout})
}

// Run prints the completion script for opts.Shell.
func Run(ctx context.Context, opts Options) error {
	cmds, err := commands(ctx, opts.Verbs)
	if err != nil {
		return err
	}
	switch opts.Shell {
	case "bash":
		_, err = io.WriteString(opts.Stdout, bashScript(cmds))
	case "zsh":
		_, err = io.WriteString(opts.Stdout, zshScript(cmds))
	default:
		return cli.UsageErrorf("unknown shell %q: want bash or zsh", opts.Shell)
	}
	return err
}

// command is what completes after one verb: its summary, its
// flags (as --name), or its sub-verbs and theirs.
type command struct {
	Name    string
	Summary string
	Flags   []string
	Args    []string // words that complete as arguments: sub-verbs, verbs, shells
	Subs    []command
}

// commands asks every verb for its flags, the way help does (-h),
// so the script lists exactly the flags the verbs define.
func commands(ctx context.Context, verbs []cli.Verb) ([]command, error) {
	var cmds []command
	for _, v := range verbs {
		cmd := command{Name: v.Name, Summary: v.Summary}
		switch v.Name {
		case "help":
			for _, o := range verbs {
				cmd.Args = append(cmd.Args, o.Name)
			}
			cmds = append(cmds, cmd)
			continue
		case "completion":
			cmd.Args = []string{"bash", "zsh"}
		}
		for _, sub := range subverbs[v.Name] {
			flags, err := verbFlags(ctx, v, sub)
			if err != nil {
				return nil, err
			}
			cmd.Args = append(cmd.Args, sub)
			cmd.Subs = append(cmd.Subs, command{Name: sub, Flags: flags})
		}
		if len(cmd.Subs) == 0 {
			flags, err := verbFlags(ctx, v)
			if err != nil {
				return nil, err
			}
			cmd.Flags = flags
		}
		cmds = append(cmds, cmd)
	}
	return cmds, nil
}

// verbFlags runs v with -h after prefix and returns the flags it defined.
func verbFlags(ctx context.Context, v cli.Verb, prefix ...string) ([]string, error) {
	c := &cli.FlagCollector{}
	err := v.Main(ctx, append(prefix, "-h"), &cli.Env{Stdout: c, Stderr: c})
	if !errors.Is(err, flag.ErrHelp) {
		return nil, fmt.Errorf("flags of %s: -h returned %w, want flag.ErrHelp", strings.Join(append([]string{v.Name}, prefix...), " "), err)
	}
	var flags []string
	for _, fs := range c.Sets {
		fs.VisitAll(func(f *flag.Flag) { flags = append(flags, "--"+f.Name) })
	}
	slices.Sort(flags)
	return slices.Compact(flags), nil
}

func bashScript(cmds []command) string {
	var b strings.Builder
	b.WriteString(`# bash completion for slipway: source <(slipway completion bash)
_slipway() {
	local cur=${COMP_WORDS[COMP_CWORD]} words=
	if (( COMP_CWORD == 1 )); then
		words="` + strings.Join(commandNames(cmds), " ") + `"
	else
		case ${COMP_WORDS[1]} in
`)
	for _, c := range cmds {
		fmt.Fprintf(&b, "\t\t%s)\n", c.Name)
		if len(c.Subs) == 0 {
			fmt.Fprintf(&b, "\t\t\twords=%q ;;\n", strings.Join(append(c.Flags, c.Args...), " "))
			continue
		}
		fmt.Fprintf(&b, "\t\t\tif (( COMP_CWORD == 2 )); then words=%q; else\n\t\t\t\tcase ${COMP_WORDS[2]} in\n", strings.Join(c.Args, " "))
		for _, s := range c.Subs {
			fmt.Fprintf(&b, "\t\t\t\t%s) words=%q ;;\n", s.Name, strings.Join(s.Flags, " "))
		}
		b.WriteString("\t\t\t\tesac\n\t\t\tfi ;;\n")
	}
	b.WriteString(`		esac
	fi
	COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _slipway slipway
`)
	return b.String()
}

func zshScript(cmds []command) string {
	var b strings.Builder
	b.WriteString(`#compdef slipway
# zsh completion for slipway: source <(slipway completion zsh), after compinit
_slipway() {
	local -a verbs candidates
	verbs=(
`)
	for _, c := range cmds {
		fmt.Fprintf(&b, "\t\t%s\n", zshQuote(c.Name+":"+strings.ReplaceAll(c.Summary, ":", `\:`)))
	}
	b.WriteString(`	)
	if (( CURRENT == 2 )); then
		_describe -t verbs 'slipway verb' verbs
		return
	fi
	case ${words[2]} in
`)
	for _, c := range cmds {
		fmt.Fprintf(&b, "\t%s)\n", c.Name)
		if len(c.Subs) == 0 {
			fmt.Fprintf(&b, "\t\tcandidates=(%s) ;;\n", strings.Join(append(c.Flags, c.Args...), " "))
			continue
		}
		fmt.Fprintf(&b, "\t\tif (( CURRENT == 3 )); then candidates=(%s); else\n\t\t\tcase ${words[3]} in\n", strings.Join(c.Args, " "))
		for _, s := range c.Subs {
			fmt.Fprintf(&b, "\t\t\t%s) candidates=(%s) ;;\n", s.Name, strings.Join(s.Flags, " "))
		}
		b.WriteString("\t\t\tesac\n\t\tfi ;;\n")
	}
	b.WriteString(`	esac
	compadd -a candidates
	_files
}
compdef _slipway slipway
`)
	return b.String()
}

func commandNames(cmds []command) []string {
	names := make([]string, len(cmds))
	for i, c := range cmds {
		names[i] = c.Name
	}
	return names
}

// zshQuote quotes s as one single-quoted zsh word.
func zshQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
