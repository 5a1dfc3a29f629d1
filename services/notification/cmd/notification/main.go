// Command notification serves the Slipway notification service: it records
// and sends a notification for every order event and lists them for their
// owner.
package main

import (
	"os"

	"github.com/slipway-dev/slipway/platform/server"
	"github.com/slipway-dev/slipway/services/notification/internal/app"
)

func main() { os.Exit(server.Command("notification", app.Run)) }
