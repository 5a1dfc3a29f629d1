package bench

import (
	"testing"

	"github.com/slipway-dev/slipway/tools/slipway/internal/clitest"
)

// The test binary plays the children the bench stops (clitest's modes).
func TestMain(m *testing.M) { clitest.Main(m, nil) }
