// Command inventory serves the Slipway inventory service: the catalog, stock
// levels and reservations.
package main

import (
	"os"

	"github.com/slipway-dev/slipway/platform/server"
	"github.com/slipway-dev/slipway/services/inventory/internal/app"
)

func main() { os.Exit(server.Command("inventory", app.Run)) }
