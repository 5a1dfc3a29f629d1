package fleet

import (
	"testing"

	"github.com/slipway-dev/slipway/tools/slipway/internal/clitest"
)

// The test binary plays the supervised children (clitest's child modes).
func TestMain(m *testing.M) { clitest.Main(m, nil) }
