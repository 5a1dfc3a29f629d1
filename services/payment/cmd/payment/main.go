// Command payment serves the Slipway payment service: it charges for
// orders through a payment service provider and shows each user their
// payments.
package main

import (
	"os"

	"github.com/slipway-dev/slipway/platform/server"
	"github.com/slipway-dev/slipway/services/payment/internal/app"
)

func main() { os.Exit(server.Command("payment", app.Run)) }
