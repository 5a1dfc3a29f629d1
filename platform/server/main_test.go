package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/platform/server"
)

// widgetConfig is a service config as every service has one: Base plus its own keys.
type widgetConfig struct {
	config.Base `yaml:",inline"`
	Colour      string `yaml:"colour" env:"WIDGET_COLOUR"`
}

func newWidgetConfig() *widgetConfig {
	c := &widgetConfig{Colour: "blue"}
	c.SetDefaults("widgets", 0, 0)
	c.GRPCAddr, c.HTTPAddr, c.DrainDelay = "127.0.0.1:0", "127.0.0.1:0", 0
	return c
}

func buildWidgets(got **widgetConfig) server.BuildFunc[*widgetConfig] {
	return func(_ context.Context, cfg *widgetConfig, logger *slog.Logger, reg *prometheus.Registry, tp *sdktrace.TracerProvider) (*server.App, func(), error) {
		*got = cfg
		app, err := server.New(cfg.Base, cfg, logger, reg, tp)
		return app, func() {}, err
	}
}

func TestMainLoadsConfigServesAndStops(t *testing.T) {
	var got *widgetConfig
	r, w := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	getenv := func(k string) string { return map[string]string{"WIDGET_COLOUR": "red"}[k] }
	go func() {
		done <- server.Main(ctx, nil, getenv, w, newWidgetConfig, buildWidgets(&got), nil)
		_ = w.Close()
	}()

	sc := bufio.NewScanner(r)
	var serving map[string]any
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) == nil && line["msg"] == "serving" {
			serving = line
			break
		}
	}
	require.NotNil(t, serving, "Main logs the serving line with the bound addresses")
	assert.Equal(t, "widgets", serving["service"])
	assert.NotContains(t, serving["grpc_addr"], ":0")
	assert.Equal(t, "red", got.Colour, "the environment overrides the default")

	go func() { _, _ = io.Copy(io.Discard, r) }()
	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err, "a clean stop returns nil")
	case <-time.After(10 * time.Second):
		t.Fatal("Main did not return")
	}
}

func TestMainRefusesBadStarts(t *testing.T) {
	tests := map[string]struct {
		args []string
		env  map[string]string
		want string
	}{
		"stray argument": {args: []string{"serve"}, want: "unexpected arguments"},
		"unknown flag":   {args: []string{"--colour=red"}, want: "flag provided but not defined"},
		"bad value":      {env: map[string]string{"DRAIN_DELAY": "soon"}, want: `DRAIN_DELAY="soon"`},
		"missing file":   {args: []string{"--config", "/nonexistent/widgets.yaml"}, want: "widgets.yaml"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var got *widgetConfig
			var out strings.Builder
			err := server.Main(context.Background(), tt.args, func(k string) string { return tt.env[k] }, &out, newWidgetConfig, buildWidgets(&got), nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.Nil(t, got, "nothing is built from a bad start")
		})
	}
}

func TestMainHelpListsEveryEnvironmentVariable(t *testing.T) {
	var out strings.Builder
	var got *widgetConfig
	err := server.Main(context.Background(), []string{"-help"}, func(string) string { return "" }, &out, newWidgetConfig, buildWidgets(&got), nil)
	require.ErrorIs(t, err, flag.ErrHelp)
	assert.Equal(t, 0, server.ExitCode(err))
	assert.Nil(t, got, "-help builds nothing")

	help := out.String()
	assert.Contains(t, help, "usage: widgets [--config file]")
	assert.Contains(t, help, "  --config file\n")
	assert.Regexp(t, `(?m)^  WIDGET_COLOUR\s+blue\s+colour\s*$`, help, "the service's own variable, with its default")
	assert.Regexp(t, `(?m)^  DRAIN_DELAY\s+0s\s+drain_delay\s+how long to keep serving after NOT_SERVING`, help, "newConfig's defaults are the ones shown, with Base's help")
	tags := envTags(reflect.TypeFor[widgetConfig]())
	require.Greater(t, len(tags), 10, "Base's variables are walked too")
	for _, name := range tags {
		assert.Regexp(t, `(?m)^  `+name+`\s`, help, "every env tag of the config is listed")
	}
}

// envTags walks a config struct's type and returns every env tag, the way a
// reader of the source would find them.
func envTags(t reflect.Type) []string {
	var tags []string
	for i := range t.NumField() {
		f := t.Field(i)
		if name := f.Tag.Get("env"); name != "" {
			tags = append(tags, name)
		}
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Duration]() {
			tags = append(tags, envTags(f.Type)...)
		}
	}
	return tags
}

func TestMainExitCodes(t *testing.T) {
	tests := map[string]struct {
		args []string
		env  map[string]string
		code int
	}{
		"help":           {args: []string{"--help"}, code: 0},
		"unknown flag":   {args: []string{"--colour=red"}, code: 2},
		"stray argument": {args: []string{"serve"}, code: 2},
		"bad value":      {env: map[string]string{"DRAIN_DELAY": "soon"}, code: 1},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var got *widgetConfig
			err := server.Main(context.Background(), tt.args, func(k string) string { return tt.env[k] }, io.Discard, newWidgetConfig, buildWidgets(&got), nil)
			assert.Equal(t, tt.code, server.ExitCode(err), "%v", err)
		})
	}
	assert.Equal(t, 0, server.ExitCode(nil))
}

func TestCommandPrintsTheFailureOnceAndReturnsTheExitCode(t *testing.T) {
	tests := map[string]struct {
		err        error
		code       int
		wantStderr string
	}{
		"clean stop":    {err: nil, code: 0},
		"help":          {err: flag.ErrHelp, code: 0},
		"usage error":   {err: fmt.Errorf("%w: unexpected arguments", server.ErrUsage), code: 2, wantStderr: "widgets: usage: unexpected arguments\n"},
		"start failure": {err: errors.New("start widgets: no database"), code: 1, wantStderr: "widgets: start widgets: no database\n"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var gotArgs []string
			run := func(_ context.Context, args []string, _ func(string) string, stdout io.Writer) error {
				gotArgs = args
				_, _ = io.WriteString(stdout, "serving\n")
				return tt.err
			}
			var stdout, stderr strings.Builder
			code := server.RunCommand(context.Background(), "widgets", run, []string{"--config", "w.yaml"}, &stdout, &stderr)
			assert.Equal(t, tt.code, code)
			assert.Equal(t, tt.wantStderr, stderr.String())
			assert.Equal(t, "serving\n", stdout.String(), "the service's own output goes to stdout")
			assert.Equal(t, []string{"--config", "w.yaml"}, gotArgs)
		})
	}
}
