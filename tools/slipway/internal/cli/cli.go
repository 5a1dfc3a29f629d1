// Package cli is what slipway's main hands to every verb: where output goes,
// the process environment, usage errors and exit codes, and the flag sets
// every verb parses its arguments with.
//
// Exit codes: 0 ok, 1 a check or command failed, 2 usage error.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/slipway-dev/slipway/tools/slipway/internal/envvar"
)

// Exit codes CI can rely on.
const (
	ExitOK     = 0
	ExitFailed = 1
	ExitUsage  = 2
)

// Env is what main hands to every verb: where output goes, the process
// environment, and a channel closed on the second interrupt (stop waiting for
// graceful shutdowns, kill).
type Env struct {
	Stdout  io.Writer
	Stderr  io.Writer
	Environ []string
	Force   <-chan struct{}
}

// Getenv is the value of key in the verb's environment, "" when unset.
func (e *Env) Getenv(key string) string {
	v, _ := envvar.Lookup(e.Environ, key)
	return v
}

// Verb is one subcommand: its name, a one-line summary for the usage text and
// its entry point, which parses args and runs the verb.
type Verb struct {
	Name    string
	Summary string
	Main    func(ctx context.Context, args []string, env *Env) error
}

// UsageError marks a mistake in the command line (exit 2).
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// UsageErrorf is a UsageError with a formatted message.
func UsageErrorf(format string, args ...any) error {
	return UsageError{fmt.Errorf(format, args...)}
}

// ExitCode reports err on w and maps it to an exit code.
func ExitCode(w io.Writer, verb string, err error) int {
	var uerr UsageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return ExitOK
	case errors.As(err, &uerr):
		// The flag package has already printed parse errors with the usage.
		if !errors.Is(err, ErrFlagParse) {
			fmt.Fprintf(w, "slipway %s: %v\n", verb, err)
		}
		return ExitUsage
	default:
		fmt.Fprintf(w, "slipway %s: %v\n", verb, err)
		return ExitFailed
	}
}
