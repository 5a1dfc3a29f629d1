package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/slipway-dev/slipway/tools/slipway/internal/rebuild"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// copyWorkspace copies the workspace's modules (go.work's use directories)
// and go.work into dst, replacing what dst held: with git, the files git
// tracks or would track (so no build output); without, every file outside
// the directories the watcher skips. It returns how many files it copied.
func copyWorkspace(ctx context.Context, goBin, root, dst string, environ []string) (int, error) {
	mods, err := workspace.Modules(ctx, goBin, root, environ)
	if err != nil {
		return 0, err
	}
	paths := []string{"go.work", "go.work.sum"}
	for dir := range mods {
		rel, err := filepath.Rel(root, dir)
		if err != nil || !workspace.Within(root, dir) {
			return 0, fmt.Errorf("workspace module %s is outside %s: bench cannot copy it", dir, root)
		}
		paths = append(paths, rel)
	}
	slices.Sort(paths)
	files, err := gitFiles(ctx, root, paths)
	if err != nil {
		files, err = walkFiles(root, paths)
		if err != nil {
			return 0, err
		}
	}
	if err := os.RemoveAll(dst); err != nil {
		return 0, err
	}
	n := 0
	for _, rel := range files {
		src := filepath.Join(root, rel)
		fi, err := os.Lstat(src)
		if err != nil || !fi.Mode().IsRegular() {
			continue // deleted but still tracked, or a link
		}
		if err := copyFile(src, filepath.Join(dst, rel), fi.Mode().Perm()); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func gitFiles(ctx context.Context, root string, paths []string) ([]string, error) {
	args := append([]string{"-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--"}, paths...)
	out, err := exec.CommandContext(ctx, "git", args...).Output()
	if err != nil {
		return nil, err
	}
	var files []string
	for f := range strings.SplitSeq(strings.TrimRight(string(out), "\x00"), "\x00") {
		if f != "" {
			files = append(files, filepath.FromSlash(f))
		}
	}
	return slices.Compact(files), nil
}

func walkFiles(root string, paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		err := filepath.WalkDir(filepath.Join(root, p), func(path string, d os.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, os.ErrNotExist) {
					return nil
				}
				return err
			}
			if d.IsDir() && rebuild.SkipDir(d.Name()) {
				return filepath.SkipDir
			}
			if !d.IsDir() {
				rel, _ := filepath.Rel(root, path)
				files = append(files, rel)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return files, nil
}

func copyFile(src, dst string, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return err
	}
	in, err := os.Open(src) //nolint:gosec // a file of the workspace
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm) //nolint:gosec // the copy keeps the original's mode
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}
