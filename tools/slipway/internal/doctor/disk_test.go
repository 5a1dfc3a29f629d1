package doctor

import (
	"errors"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestDiskRow(t *testing.T) {
	const gib = 1 << 30
	tests := []struct {
		name   string
		free   uint64
		err    error
		status Status
		found  string
	}{
		{name: "plenty", free: 64 * gib, status: OK, found: "64.0 GiB free on /w"},
		{name: "below 5 GiB", free: 4 * gib, status: Warn, found: "4.0 GiB free"},
		{name: "below 1 GiB", free: gib / 2, status: Fail, found: "0.5 GiB free"},
		{name: "cannot measure", err: errors.ErrUnsupported, status: Warn, found: "cannot tell: unsupported operation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			row := diskRow("/w", tt.free, tt.err)
			assert.Equal(t, tt.status, row.Status)
			assert.Contains(t, row.Found, tt.found)
		})
	}

	row := checkDisk(t.Context(), newTestEnv(t, testRepo(t), nil, nil))[0]
	if runtime.GOOS == "linux" || runtime.GOOS == "darwin" {
		assert.Contains(t, row.Found, " GiB free on ", "statfs measures the workspace's filesystem")
	}
}
