package config_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/platform/events"
)

// maxHelpLen keeps a description on one line of -help beside its name,
// default and key.
const maxHelpLen = 90

// helpProblems returns, for each environment variable of cfg, why its help
// tag is unfit for -help's DESCRIPTION column: missing, too long, or ending
// in a period.
func helpProblems(t *testing.T, cfg any) []string {
	t.Helper()
	vars, err := config.EnvVars(cfg)
	require.NoError(t, err)
	require.NotEmpty(t, vars)
	var problems []string
	for _, v := range vars {
		switch {
		case strings.TrimSpace(v.Doc) == "":
			problems = append(problems, v.Name+": no help tag")
		case utf8.RuneCountInString(v.Doc) > maxHelpLen:
			problems = append(problems, v.Name+": help longer than 90 characters")
		case strings.HasSuffix(v.Doc, "."):
			problems = append(problems, v.Name+": help ends in a period")
		}
	}
	return problems
}

func TestEveryEnvVariableHasHelp(t *testing.T) {
	tests := map[string]any{
		"Base":             &config.Base{},
		"ConsumerSettings": &events.ConsumerSettings{},
		"ProducerSettings": &events.ProducerSettings{},
	}
	for name, cfg := range tests {
		t.Run(name, func(t *testing.T) {
			assert.Empty(t, helpProblems(t, cfg), "every env-tagged field needs a one-line help tag for -help")
		})
	}
}

func TestBaseHelpCoversEmbeddedStructs(t *testing.T) {
	vars, err := config.EnvVars(&config.Base{})
	require.NoError(t, err)
	docs := map[string]string{}
	for _, v := range vars {
		docs[v.Name] = v.Doc
	}
	// One variable from each struct Base embeds inline.
	for _, name := range []string{"TLS_CERT_FILE", "ADMIN_ADDR", "DB_MAX_CONNS", "GRPC_MAX_WATCH_STREAMS", "ACCESS_LOG_SAMPLE"} {
		assert.NotEmpty(t, docs[name], "%s is listed with its help", name)
	}
	assert.Equal(t, "per-RPC deadline when the caller sets none", docs["RPC_DEFAULT_TIMEOUT"])
}

type badHelpConfig struct {
	Documented string `yaml:"documented" env:"WIDGET_DOCUMENTED" help:"a widget's name"`
	Bare       string `yaml:"bare" env:"WIDGET_BARE"`
	Long       string `yaml:"long" env:"WIDGET_LONG" help:"a description that runs on and on, clause after clause, far past what one line of the help table has room for"`
	Sentence   string `yaml:"sentence" env:"WIDGET_SENTENCE" help:"a full sentence."`
}

func TestHelpProblemsReportsUnfitHelp(t *testing.T) {
	assert.Equal(t, []string{
		"WIDGET_BARE: no help tag",
		"WIDGET_LONG: help longer than 90 characters",
		"WIDGET_SENTENCE: help ends in a period",
	}, helpProblems(t, &badHelpConfig{}))
}
