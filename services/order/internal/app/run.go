// Package app assembles the order service (orders, the outbox relay and the calls to inventory) with wire and
// runs it.
package app

import (
	"context"
	"io"

	"github.com/slipway-dev/slipway/platform/server"
	"github.com/slipway-dev/slipway/services/order/internal/config"
	"github.com/slipway-dev/slipway/services/order/internal/store"
)

// Run is the order service's whole program (server.Main): parse args (--config),
// load the config from defaults, the file and getenv, build everything with
// newApp and serve until ctx ends. Logs go to stdout; tests call it with
// GRPC_ADDR and HTTP_ADDR on port 0.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	return server.Main(ctx, args, getenv, stdout, config.Default, newApp, store.Migrations())
}
