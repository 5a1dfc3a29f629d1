package doctor

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadRepo(t *testing.T) {
	ws, err := loadRepo(testRepo(t))
	require.NoError(t, err)
	assert.Equal(t, "1.26.7", ws.Go)
	assert.Equal(t, "go1.26.8", ws.ciToolchain())

	var work, other []string
	for _, m := range ws.workModules() {
		work = append(work, m.Dir)
	}
	for _, m := range ws.otherModules() {
		other = append(other, m.Dir)
	}
	assert.Equal(t, []string{"api", "tools/slipway"}, work, "go.work's modules, in its order")
	assert.ElementsMatch(t, []string{"deploy", "tools/gen"}, other, "testdata and hidden directories are skipped")

	gen := ws.otherModules()[slicesIndex(other, "tools/gen")]
	assert.Equal(t, []string{"github.com/bufbuild/buf/cmd/buf", "google.golang.org/protobuf/cmd/protoc-gen-go"}, gen.Tools)
	assert.Equal(t, []requirement{{"golang.org/x/net", "v0.61.0"}}, ws.workModules()[0].Require)

	_, err = loadRepo(t.TempDir())
	assert.ErrorIs(t, err, os.ErrNotExist, "no go.work")
}
