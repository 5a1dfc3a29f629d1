package scan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// module is one module of go.work.
type module struct {
	Path string // module path
	Dir  string // relative to the workspace root, with slashes
	Abs  string
}

// workspaceModules lists the modules of go.work, in its order.
func workspaceModules(ctx context.Context, goBin, root string, environ []string) ([]module, error) {
	cmd := exec.CommandContext(ctx, goBin, "list", "-m", "-json")
	cmd.Dir, cmd.Env = root, environ
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list -m: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	var mods []module
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var m struct{ Path, Dir string }
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("go list -m: %w", err)
		}
		rel, err := filepath.Rel(root, m.Dir)
		if err != nil {
			return nil, err
		}
		mods = append(mods, module{Path: m.Path, Dir: filepath.ToSlash(rel), Abs: m.Dir})
	}
	if len(mods) == 0 {
		return nil, fmt.Errorf("no modules in %s", filepath.Join(root, "go.work"))
	}
	return mods, nil
}

// selectModules picks the modules named by dir or path; none named is all.
func selectModules(all []module, names []string) ([]module, error) {
	if len(names) == 0 {
		return all, nil
	}
	var picked []module
	for _, n := range names {
		n = strings.TrimSuffix(strings.TrimPrefix(filepath.ToSlash(n), "./"), "/")
		i := slices.IndexFunc(all, func(m module) bool { return m.Dir == n || m.Path == n })
		if i < 0 {
			dirs := make([]string, len(all))
			for j, m := range all {
				dirs[j] = m.Dir
			}
			return nil, fmt.Errorf("--modules: %q is not a module of go.work (modules: %s)", n, strings.Join(dirs, ", "))
		}
		if !slices.Contains(picked, all[i]) {
			picked = append(picked, all[i])
		}
	}
	return picked, nil
}
