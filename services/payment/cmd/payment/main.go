// Command payment serves the Slipway payment service: each user's payments.
package main

import (
	"os"

	"github.com/slipway-dev/slipway/platform/server"
	"github.com/slipway-dev/slipway/services/payment/internal/app"
)

func main() { os.Exit(server.Command("payment", app.Run)) }
