// Command notification serves the Slipway notification service: it records
// and sends a notification for every order event and lists them for their
// owner.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/slipway-dev/slipway/platform/server"
	"github.com/slipway-dev/slipway/services/notification/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := app.Run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	stop()
	os.Exit(code(err))
}

// code is the process exit code for Run's result (server.ExitCode: 0 for a
// clean stop or -help, 2 for a usage error, 1 otherwise), with the error
// on stderr.
func code(err error) int {
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "notification:", err)
	}
	return server.ExitCode(err)
}
