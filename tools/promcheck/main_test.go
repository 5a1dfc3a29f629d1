package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

func TestRunRejectsBadUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"no root", []string{"--slipway", "/bin/true"}},
		{"unknown flag", []string{"--nope"}},
		{"stray argument", []string{"--root", "/", "--slipway", "/bin/true", "extra"}},
		{"short load", []string{"--root", "/", "--slipway", "/bin/true", "--load", "1s"}},
		{"no redis", []string{"--root", "/", "--slipway", "/bin/true", "--redis", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), tt.args, &bytes.Buffer{}, &bytes.Buffer{})
			var usage usageError
			require.True(t, errors.As(err, &usage), "want a usage error, got %v", err)
		})
	}
}

func TestRunNeedsTheRegistry(t *testing.T) {
	err := run(context.Background(), []string{"--root", t.TempDir(), "--slipway", "/bin/true"}, &bytes.Buffer{}, &bytes.Buffer{})
	require.ErrorContains(t, err, "the service registry")
}

func TestScrapeConfig(t *testing.T) {
	text := scrapeConfig([]string{"127.0.0.1:9382", "127.0.0.1:9381"}, []string{filepath.Join("/r", "slo.yml")})
	var cfg struct {
		Global struct {
			Scrape string `yaml:"scrape_interval"`
			Eval   string `yaml:"evaluation_interval"`
		} `yaml:"global"`
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			Job           string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(text), &cfg), text)
	assert.Equal(t, "1s", cfg.Global.Scrape)
	assert.Equal(t, "1s", cfg.Global.Eval)
	assert.Equal(t, []string{"/r/slo.yml"}, cfg.RuleFiles)
	require.Len(t, cfg.ScrapeConfigs, 1)
	assert.Equal(t, []string{"127.0.0.1:9381", "127.0.0.1:9382"}, cfg.ScrapeConfigs[0].StaticConfigs[0].Targets)
}
