package rebuild

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServiceGraphOfThisWorkspace lists the real package graph of the
// Slipway workspace this test runs in and checks which services a change
// to a file rebuilds.
func TestServiceGraphOfThisWorkspace(t *testing.T) {
	root, err := workspace.FindRoot(".")
	require.NoError(t, err)
	goBin, err := exec.LookPath("go")
	require.NoError(t, err)
	all := workspace.Names(workspace.Known)
	g, err := loadServiceGraph(t.Context(), goBin, root, all, os.Environ())
	require.NoError(t, err)
	assert.Greater(t, g.Packages(), 20, "the services are built from many workspace packages")

	tests := []struct {
		file      string
		want      []string // exactly these services
		atLeast   []string // these services and maybe more
		wantRegen bool
	}{
		{file: "services/order/internal/domain/service.go", want: []string{"order"}},
		{file: "services/order/internal/domain/new_file.go", want: []string{"order"}},
		{file: "platform/server/app.go", want: all},
		{file: "platform/store/store.go", want: all},
		{file: "api/gen/go/slipway/inventory/v1/inventory.pb.go", atLeast: []string{"inventory", "order"}},
		{file: "services/inventory/internal/store/migrations/sqlite/0003_next.sql", want: []string{"inventory"}},
		{file: "api/proto/slipway/inventory/v1/inventory.proto", want: all, wantRegen: true},
		{file: "go.work", want: all},
		{file: "services/user/go.mod", want: all},
		{file: "platform/go.sum", want: all},

		{file: "services/order/internal/domain/service_test.go"},
		{file: "services/user/internal/app/wire.go"}, // //go:build wireinject
		{file: "api/gen/openapi/inventory.yaml"},
		{file: "deploy/go.mod"},
		{file: "tools/slipway/main.go"},
		{file: "README.md"},
		{file: "services/order/README.md"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			file := filepath.Join(root, filepath.FromSlash(tt.file))
			got, regen := g.affects(file)
			assert.Equal(t, tt.wantRegen, regen)
			switch {
			case tt.atLeast != nil:
				assert.Subset(t, got, tt.atLeast)
				assert.NotContains(t, got, "user", "user does not call inventory")
			default:
				assert.Equal(t, tt.want, got)
			}
			assert.Equal(t, len(got) > 0 || regen, g.Relevant(file))
		})
	}

	outside := filepath.Join(filepath.Dir(root), "elsewhere", "main.go")
	assert.False(t, g.Relevant(outside), "files outside the workspace never matter")
}

func TestServiceGraphImpact(t *testing.T) {
	root := "/ws"
	g := &serviceGraph{
		root:     root,
		services: []string{"user", "order", "inventory"},
		modules:  map[string]bool{"/ws/platform": true},
		deps: map[string]serviceDeps{
			"user":      {dirs: map[string]bool{"/ws/platform/auth": true}},
			"order":     {dirs: map[string]bool{"/ws/platform/auth": true, "/ws/services/order/internal/rpc": true}},
			"inventory": {dirs: map[string]bool{"/ws/services/inventory/internal/rpc": true}, embeds: map[string]bool{"/ws/services/inventory/internal/store/migrations": true}},
		},
	}
	tests := []struct {
		name  string
		files []string
		want  changeImpact
	}{
		{
			name:  "services in start order, files named once",
			files: []string{"/ws/services/inventory/internal/rpc/handler.go", "/ws/platform/auth/jwt.go", "/ws/notes.txt"},
			want: changeImpact{
				Services: []string{"user", "order", "inventory"},
				Files:    []string{"services/inventory/internal/rpc/handler.go", "platform/auth/jwt.go"},
			},
		},
		{
			name:  "embedded file",
			files: []string{"/ws/services/inventory/internal/store/migrations/0002.sql"},
			want:  changeImpact{Services: []string{"inventory"}, Files: []string{"services/inventory/internal/store/migrations/0002.sql"}},
		},
		{
			name:  "proto",
			files: []string{"/ws/api/proto/slipway/order/v1/order.proto"},
			want:  changeImpact{Services: []string{"user", "order", "inventory"}, Regen: true, Files: []string{"api/proto/slipway/order/v1/order.proto"}},
		},
		{
			name:  "nothing that matters",
			files: []string{"/ws/platform/auth/jwt_test.go", "/ws/docs/x.md", "/elsewhere/a.go"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := g.Impact(tt.files)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.want.Services == nil && !tt.want.Regen, got.Empty())
		})
	}
}

func TestSummarizeFiles(t *testing.T) {
	assert.Equal(t, "a.go", summarizeFiles([]string{"a.go"}))
	assert.Equal(t, "a.go, b.go, c.go", summarizeFiles([]string{"a.go", "b.go", "c.go"}))
	assert.Equal(t, "a.go, b.go, c.go and 2 more", summarizeFiles([]string{"a.go", "b.go", "c.go", "d.go", "e.go"}))
}
