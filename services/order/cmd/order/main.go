// Command order serves the Slipway order service: orders, their status and
// the events they publish.
package main

import (
	"os"

	"github.com/slipway-dev/slipway/platform/server"
	"github.com/slipway-dev/slipway/services/order/internal/app"
)

func main() { os.Exit(server.Command("order", app.Run)) }
