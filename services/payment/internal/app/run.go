// Package app assembles the payment service with wire and runs it.
package app

import (
	"context"
	"io"

	"github.com/slipway-dev/slipway/platform/server"
	"github.com/slipway-dev/slipway/services/payment/internal/config"
	"github.com/slipway-dev/slipway/services/payment/internal/store"
)

// Run is the payment service's whole program (server.Main): parse args
// (--config), load the config from defaults, the file and getenv, build
// everything with newApp and serve until ctx ends. Logs go to stdout; tests
// call it with GRPC_ADDR and HTTP_ADDR on port 0.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	return server.Main(ctx, args, getenv, stdout, config.Default, newApp, store.Migrations())
}
