package doctor

import (
	"context"
	"fmt"
)

// Free disk space thresholds: builds, the module cache and the build cache
// need a few GiB.
const (
	diskWarn = 5 << 30
	diskFail = 1 << 30
)

// checkDisk checks the free space of the filesystem holding the workspace.
func checkDisk(_ context.Context, e *checkEnv) []Row {
	free, err := freeSpace(e.root)
	return []Row{diskRow(e.root, free, err)}
}

func diskRow(path string, free uint64, err error) Row {
	row := Row{Check: "disk space", Expected: "≥ 5 GiB free where the workspace is"}
	if err != nil {
		row.Found, row.Status = "cannot tell: "+errLine(err), Warn
		return row
	}
	row.Found = fmt.Sprintf("%.1f GiB free on %s", float64(free)/(1<<30), path)
	switch {
	case free < diskFail:
		row.Status = Fail
	case free < diskWarn:
		row.Status = Warn
	default:
		row.Status = OK
		return row
	}
	row.Fix = "free space: go clean -cache empties the build cache, make clean removes .slipway"
	return row
}
