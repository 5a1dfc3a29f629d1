package fleet

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestDevValidatesConsoleFlags(t *testing.T) {
	for _, o := range []Options{{ConsolePort: -1}, {ConsolePort: 70000}, {ConsoleMaxSpans: -5}, {ConsoleMaxBytes: -1}} {
		o = o.WithDefaults()
		assert.Error(t, o.Validate(), "%+v", o)
	}
	ok := Options{ConsolePort: 8080, ConsoleMaxTraces: 10, ConsoleMaxSpans: 100}.WithDefaults()
	assert.NoError(t, ok.Validate())
}
