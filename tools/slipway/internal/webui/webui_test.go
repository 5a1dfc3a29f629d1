package webui_test

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/tools/slipway/internal/webui"
)

// TestEmbeddedBuildIsWhole checks that the embedded application has its
// index.html and every script and stylesheet that index.html names, so a
// half-copied build cannot ship.
func TestEmbeddedBuildIsWhole(t *testing.T) {
	files := webui.FS()
	index, err := fs.ReadFile(files, "index.html")
	require.NoError(t, err, "the console's entry page")
	refs := regexp.MustCompile(`(?:src|href)="(\.?/?[^"]+\.(js|css))"`).FindAllStringSubmatch(string(index), -1)
	kinds := map[string]int{}
	for _, ref := range refs {
		kinds[ref[2]]++
		name := strings.TrimPrefix(strings.TrimPrefix(ref[1], "."), "/")
		_, err := fs.Stat(files, name)
		assert.NoError(t, err, "index.html names %s", ref[1])
	}
	// A Vite build has an entry script and a stylesheet; an index.html
	// without them (a placeholder, a broken build) is no application.
	assert.Positive(t, kinds["js"], "index.html names no script")
	assert.Positive(t, kinds["css"], "index.html names no stylesheet")
}
