package drift

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// declare reads the declared file and the config schema of every selected
// service.
func (d *drifter) declare(ctx context.Context, configDir string, opts Options) ([]*subject, error) {
	names := opts.Services
	discover := len(names) == 0 && len(opts.Targets) == 0
	if len(names) == 0 {
		for _, s := range workspace.Known {
			if _, ok := opts.Targets[s.Name]; discover || ok {
				names = append(names, s.Name)
			}
		}
	}
	var svcs []*subject
	for _, name := range names {
		path := filepath.Join(configDir, name+".yaml")
		data, origin, notes, err := readDeclaredConfig(ctx, path)
		if errors.Is(err, os.ErrNotExist) && discover {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("declared config of %s: %w", name, err)
		}
		for _, n := range notes {
			d.note("%s: %s", d.rel(path), n)
		}
		declared, err := flattenConfigYAML(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d.rel(path), err)
		}
		s := &subject{
			info:     &Service{Service: name, Declared: d.rel(path), Origin: origin},
			name:     name,
			declared: declared,
		}
		if s.schema, err = loadConfigSchema(d.root, name); err != nil {
			d.note("%s: config keys not read from source (%v); value types are taken from the running service", name, err)
		}
		d.report.Services = append(d.report.Services, *s.info)
		svcs = append(svcs, s)
	}
	if len(svcs) == 0 {
		return nil, fmt.Errorf("no declared config in %s: want <svc>.yaml for any of %s",
			d.rel(configDir), strings.Join(workspace.Names(workspace.Known), ", "))
	}
	// Point into the report, now that Services no longer grows.
	for i, s := range svcs {
		s.info = &d.report.Services[i]
	}
	return svcs, nil
}

// readDeclaredConfig returns the file at path as committed at HEAD, or the working
// tree's copy with a note when git does not have it.
func readDeclaredConfig(ctx context.Context, path string) (data []byte, origin string, notes []string, err error) {
	dir, base := filepath.Split(path)
	worktree, wtErr := os.ReadFile(path) //nolint:gosec // the operator chooses the config directory
	committed, commit, gitErr := gitShowHead(ctx, dir, base)
	if gitErr == nil {
		switch {
		case errors.Is(wtErr, os.ErrNotExist):
			notes = append(notes, "deleted in the working tree; the committed version is the declaration")
		case wtErr == nil && !bytes.Equal(worktree, committed):
			notes = append(notes, "has uncommitted changes; the committed version is the declaration, so they show as drift")
		}
		return committed, "git HEAD " + commit, notes, nil
	}
	if wtErr != nil {
		if errors.Is(wtErr, os.ErrNotExist) {
			return nil, "", nil, fmt.Errorf("%s: not in git (%w) nor in the working tree: %w", path, gitErr, os.ErrNotExist)
		}
		return nil, "", nil, wtErr
	}
	notes = append(notes, fmt.Sprintf("not read from git (%v); using the working tree", gitErr))
	return worktree, "working tree", notes, nil
}

// gitShowHead returns the committed content of dir/base at HEAD and the
// short commit.
func gitShowHead(ctx context.Context, dir, base string) ([]byte, string, error) {
	git, err := exec.LookPath("git")
	if err != nil {
		return nil, "", errors.New("git is not installed")
	}
	run := func(args ...string) ([]byte, error) {
		var stdout, stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, git, append([]string{"-C", dir}, args...)...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			msg, _, _ := strings.Cut(strings.TrimSpace(stderr.String()), "\n")
			msg = strings.TrimPrefix(msg, "fatal: ")
			if msg == "" {
				msg = err.Error()
			}
			return nil, errors.New(msg)
		}
		return stdout.Bytes(), nil
	}
	// "HEAD:./name" is resolved relative to dir, wherever the repository's top is.
	data, err := run("show", "HEAD:./"+base)
	if err != nil {
		return nil, "", err
	}
	commit, err := run("rev-parse", "--short", "HEAD")
	if err != nil {
		return nil, "", err
	}
	return data, strings.TrimSpace(string(commit)), nil
}

// flattenConfigYAML parses a config file into its leaf values keyed by dotted
// YAML keys, as config.Load reads it.
func flattenConfigYAML(data []byte) (map[string]*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	out := map[string]*yaml.Node{}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return out, nil // empty, or comments only
	}
	top := derefConfigNode(doc.Content[0])
	if isNullConfigNode(top) {
		return out, nil
	}
	if top.Kind != yaml.MappingNode {
		return nil, errors.New("want a mapping of keys at the top level")
	}
	var walk func(n *yaml.Node, prefix string) error
	walk = func(n *yaml.Node, prefix string) error {
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := prefix + n.Content[i].Value
			v := derefConfigNode(n.Content[i+1])
			if _, dup := out[key]; dup {
				return fmt.Errorf("line %d: key %q repeated", n.Content[i].Line, key)
			}
			if v.Kind == yaml.MappingNode {
				if err := walk(v, key+"."); err != nil {
					return err
				}
				continue
			}
			out[key] = v
		}
		return nil
	}
	return out, walk(top, "")
}

func derefConfigNode(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNullConfigNode(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}
