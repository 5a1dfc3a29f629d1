package config_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/config"
)

type envDocConfig struct {
	config.Base `yaml:",inline"`
	Colour      string        `yaml:"colour" env:"WIDGET_COLOUR" help:"paint of every widget"`
	APIKey      string        `yaml:"api_key" env:"WIDGET_API_KEY" secret:"true"`
	Unset       string        `yaml:"unset" env:"WIDGET_UNSET" secret:"true"`
	Internal    string        `yaml:"internal"` // no env tag: not listed
	Sizes       []string      `yaml:"sizes" env:"WIDGET_SIZES"`
	Nested      envDocNested  `yaml:"nested"`
	TTL         time.Duration `yaml:"-" env:"WIDGET_TTL"`
}

type envDocNested struct {
	Peer string `yaml:"peer" env:"WIDGET_PEER_URL" redact:"url"`
}

func TestEnvVarsListsEveryEnvTagWithItsDefault(t *testing.T) {
	cfg := &envDocConfig{Colour: "blue", APIKey: "hunter2", Sizes: []string{"s", "m"}, TTL: 90 * time.Second,
		Nested: envDocNested{Peer: "postgres://u:secret@db:5432/x"}}
	cfg.SetDefaults("widgets", 9000, 9100)

	vars, err := config.EnvVars(cfg)
	require.NoError(t, err)
	byName := map[string]config.EnvVar{}
	for _, v := range vars {
		_, dup := byName[v.Name]
		assert.False(t, dup, "%s listed twice", v.Name)
		byName[v.Name] = v
	}
	assert.Equal(t, config.EnvVar{Name: "WIDGET_COLOUR", Default: "blue", Key: "colour", Doc: "paint of every widget"}, byName["WIDGET_COLOUR"])
	assert.Equal(t, "(set)", byName["WIDGET_API_KEY"].Default, "a secret default is never shown")
	assert.Empty(t, byName["WIDGET_UNSET"].Default, "an unset secret shows as unset")
	assert.Equal(t, "s,m", byName["WIDGET_SIZES"].Default, "lists are comma separated, as the environment takes them")
	assert.Equal(t, "1m30s", byName["WIDGET_TTL"].Default)
	assert.Empty(t, byName["WIDGET_TTL"].Key, "not in the file")
	assert.Equal(t, "nested.peer", byName["WIDGET_PEER_URL"].Key)
	assert.NotContains(t, byName["WIDGET_PEER_URL"].Default, "secret", "URL passwords are masked")
	assert.Equal(t, ":9000", byName["GRPC_ADDR"].Default, "Base's variables, with SetDefaults' values")
	assert.Contains(t, byName, "DATABASE_URL")
	assert.NotContains(t, byName, "")
}

func TestWriteEnvTable(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, config.WriteEnvTable(&b, []config.EnvVar{
		{Name: "WIDGET_COLOUR", Default: "blue", Key: "colour", Doc: "paint"},
		{Name: "WIDGET_TTL"},
	}))
	assert.Equal(t, "  NAME           DEFAULT  YAML KEY  DESCRIPTION\n"+
		"  WIDGET_COLOUR  blue     colour    paint\n"+
		"  WIDGET_TTL     -        -\n", b.String())
}

func TestEnvVarsNeedsAStructPointer(t *testing.T) {
	_, err := config.EnvVars(envDocConfig{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "non-nil pointer to a struct")
}
