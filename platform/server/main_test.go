package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
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
	go func() { done <- server.Main(ctx, nil, getenv, w, newWidgetConfig, buildWidgets(&got)); _ = w.Close() }()

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
			err := server.Main(context.Background(), tt.args, func(k string) string { return tt.env[k] }, &out, newWidgetConfig, buildWidgets(&got))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.Nil(t, got, "nothing is built from a bad start")
		})
	}
}
