package workspace

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// Modules returns the directories of the modules go.work uses.
func Modules(ctx context.Context, goBin, root string, environ []string) (map[string]bool, error) {
	cmd := exec.CommandContext(ctx, goBin, "work", "edit", "-json")
	cmd.Dir = root
	cmd.Env = environ
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go work edit -json: %w", err)
	}
	var work struct{ Use []struct{ DiskPath string } }
	if err := json.Unmarshal(out, &work); err != nil {
		return nil, fmt.Errorf("go work edit -json: %w", err)
	}
	mods := map[string]bool{}
	for _, u := range work.Use {
		dir := u.DiskPath
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(root, dir)
		}
		mods[filepath.Clean(dir)] = true
	}
	return mods, nil
}

// Within reports whether path is root or inside it.
func Within(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}
