package drift

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeFiles writes files (slash path -> content) under root.
func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(root, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	}
}

func TestLoadConfigSchemaFollowsTheTags(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"platform/config/base.go": `package config

import "time"

type Base struct {
	LogLevel string        ` + "`yaml:\"log_level\" env:\"LOG_LEVEL\"`" + `
	Drain    time.Duration ` + "`yaml:\"drain_delay\" env:\"DRAIN_DELAY\"`" + `
}
`,
		"services/shop/internal/config/config.go": `package config

import (
	"time"

	pc "example.com/fork/platform/config"
)

type Level int

type Limits struct {
	Max    Level    ` + "`yaml:\"max\" env:\"LIMIT_MAX\"`" + `
	Owners []string ` + "`yaml:\"owners\"`" + `
}

type Config struct {
	pc.Base ` + "`yaml:\",inline\"`" + `
	DatabaseURL string        ` + "`yaml:\"database_url\" env:\"DATABASE_URL\" redact:\"url\"`" + `
	Password    string        ` + "`yaml:\"password\" env:\"SHOP_PASSWORD\" secret:\"true\"`" + `
	TTL         time.Duration ` + "`env:\"SHOP_TTL\"`" + `
	Limits      Limits        ` + "`yaml:\"limits\"`" + `
	Ignored     string        ` + "`yaml:\"-\"`" + `
	hidden      string
	Flags       map[string]bool ` + "`yaml:\"flags\"`" + `
}
`,
		"services/shop/internal/config/config_test.go": "package config\n\nthis is not Go",
	})
	s, err := loadConfigSchema(root, "shop")
	require.NoError(t, err)
	assert.Equal(t, map[string]configField{
		"log_level":     {Key: "log_level", Env: "LOG_LEVEL", Kind: configKindString},
		"drain_delay":   {Key: "drain_delay", Env: "DRAIN_DELAY", Kind: configKindDuration},
		"database_url":  {Key: "database_url", Env: "DATABASE_URL", Kind: configKindString, URL: true},
		"password":      {Key: "password", Env: "SHOP_PASSWORD", Kind: configKindString, Secret: true},
		"ttl":           {Key: "ttl", Env: "SHOP_TTL", Kind: configKindDuration},
		"limits.max":    {Key: "limits.max", Env: "LIMIT_MAX", Kind: configKindNumber},
		"limits.owners": {Key: "limits.owners", Kind: configKindList},
		"flags":         {Key: "flags", Kind: configKindUnknown},
	}, s.byKey, "inline structs of the workspace (under a fork's module path), nested structs, named types; - and unexported fields left out")
	assert.Equal(t, "limits.max", s.byEnv["LIMIT_MAX"].Key)
	assert.NotContains(t, s.byEnv, "", "keys without env are not mapped from variables")

	f, ok := s.lookup("limits.owners")
	assert.True(t, ok)
	assert.Equal(t, configKindList, f.Kind)
	_, ok = s.lookup("nope")
	assert.False(t, ok)
	assert.Equal(t, configField{Key: "nope"}, s.field("nope"), "an unknown key takes its type from the value found")
	var none *configSchema
	assert.Equal(t, configField{Key: "x"}, none.field("x"), "a service whose source was not read")
}

func TestLoadConfigSchemaErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"no Config type", map[string]string{"services/shop/internal/config/c.go": "package config\n\ntype Other struct{}\n"}, "no type Config in"},
		{"Config is no struct", map[string]string{"services/shop/internal/config/c.go": "package config\n\ntype Config int\n"}, "not a struct"},
		{"an inline struct outside the workspace", map[string]string{"services/shop/internal/config/c.go": "package config\n\nimport \"example.com/elsewhere/base\"\n\ntype Config struct {\n\tbase.Base `yaml:\",inline\"`\n}\n"},
			"cannot find the inline struct base.Base"},
		{"a syntax error", map[string]string{"services/shop/internal/config/c.go": "package config\n\ntype Config struct {\n"}, "expected"},
		{"a struct that nests itself", map[string]string{"services/shop/internal/config/c.go": "package config\n\ntype Config struct {\n\tMore Config `yaml:\"more\"`\n}\n"},
			"config structs nest too deep"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			writeFiles(t, root, tt.files)
			_, err := loadConfigSchema(root, "shop")
			assert.ErrorContains(t, err, tt.want)
		})
	}
}
