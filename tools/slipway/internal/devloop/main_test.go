package devloop

import (
	"testing"

	"github.com/slipway-dev/slipway/tools/slipway/internal/clitest"
)

// The test binary plays the services: clitest's child modes, and "traced",
// a service the console sees.
func TestMain(m *testing.M) {
	clitest.Main(m, map[string]clitest.ChildMode{"traced": serveTracedTestChild})
}
