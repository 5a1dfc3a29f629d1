package newcmd

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestApplyWritesEveryChangeAndKeepsTheEditedFilesMode(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "go.work"), []byte("old\n"), 0o600))

	err := apply(root, []change{
		{path: "services/gadgets/cmd/gadgets/main.go", data: []byte("package main\n"), created: true},
		{path: "go.work", data: []byte("new\n")},
	})

	require.NoError(t, err)
	assertFile(t, root, "services/gadgets/cmd/gadgets/main.go", "package main\n")
	assertFile(t, root, "go.work", "new\n")
	fi, err := os.Stat(filepath.Join(root, "go.work"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
}

func TestApplyPutsEverythingBackWhenAWriteFails(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "go.work"), []byte("old\n"), 0o644))
	// "blocker" is a file, so nothing can be created under it.
	require.NoError(t, os.WriteFile(filepath.Join(root, "blocker"), nil, 0o644))

	err := apply(root, []change{
		{path: "go.work", data: []byte("new\n")},
		{path: "services/gadgets/README.md", data: []byte("# gadgets\n"), created: true},
		{path: "blocker/x.go", data: []byte("package x\n"), created: true},
	})

	require.Error(t, err)
	assertFile(t, root, "go.work", "old\n")
	assert.NoFileExists(t, filepath.Join(root, "services", "gadgets", "README.md"))
	assert.NoDirExists(t, filepath.Join(root, "services"), "the directories apply made are removed too")
}

func TestCheckTargetsRefusesBeforeAnythingIsWritten(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "go.work"), nil, 0o644))
	tests := map[string]struct {
		change change
		want   string
	}{
		"a created file that exists":     {change{path: "go.work", created: true}, "go.work exists: nothing written"},
		"an edited file that is missing": {change{path: "Makefile"}, "Makefile is missing, so it cannot be edited"},
		"a path that leaves the root":    {change{path: "../escape.go", created: true}, "not a clean path inside the workspace"},
		"an absolute path":               {change{path: "/etc/passwd"}, "not a clean path inside the workspace"},
		"an unclean path":                {change{path: "services/./x.go", created: true}, "not a clean path inside the workspace"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			err := checkTargets(root, []change{tt.change})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	t.Run("the same path twice", func(t *testing.T) {
		err := checkTargets(root, []change{{path: "a.go", created: true}, {path: "a.go", created: true}})
		require.ErrorContains(t, err, "a.go is planned twice")
	})
	t.Run("a good plan", func(t *testing.T) {
		assert.NoError(t, checkTargets(root, []change{{path: "go.work"}, {path: "services/w/x.go", created: true}}))
	})
}

func TestPrintPlanListsCreatedFilesFirstEachGroupSorted(t *testing.T) {
	var out bytes.Buffer
	printPlan(&out, []change{
		{path: "go.work"},
		{path: "services/w/b.go", created: true},
		{path: "Makefile"},
		{path: "services/w/a.go", created: true},
	}, "would create", "would edit")
	assert.Equal(t, ""+
		"would create services/w/a.go\n"+
		"would create services/w/b.go\n"+
		"would edit   Makefile\n"+
		"would edit   go.work\n", out.String())
}

func assertFile(t *testing.T, root, path, want string) {
	t.Helper()
	got, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(path)))
	require.NoError(t, err)
	assert.Equal(t, want, string(got))
}
