// Command user runs the user service: accounts, login and the JWKS every
// other service verifies tokens with.
package main

import (
	"os"

	"github.com/slipway-dev/slipway/platform/server"
	"github.com/slipway-dev/slipway/services/user/internal/app"
)

func main() { os.Exit(server.Command("user", app.Run)) }
