package events

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/slipway-dev/slipway/platform/events/natstest"
	"github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/platform/telemetry/logtest"
)

// TestConsumerRedactsURLsInHandlerErrors attacks the leak of a credential
// through a handler error that quotes a URL (*url.Error, as every failed
// net/http call returns): the consumer's logs, its span and the dead
// letter's reason header must show the URL masked.
func TestConsumerRedactsURLsInHandlerErrors(t *testing.T) {
	e := newConsumerEnv(t, store.SQLite, natstest.Shared(t))
	secrets := []string{"hook-pass-5e", "T0SECRET5", "tok3n-5eed"}
	leaky := &url.Error{Op: "Post", URL: "https://hook-user:hook-pass-5e@hooks.example.com/services/T0SECRET5?token=tok3n-5eed",
		Err: errors.New("dial tcp 10.0.0.1:443: connect: connection refused")}
	rec := &recorder{fail: func(Message) error { return fmt.Errorf("send notification: %w", leaky) }}

	logs := &logtest.Buffer{}
	spans := tracetest.NewSpanRecorder()
	cfg := e.config("leaky")
	c, err := NewConsumer(e.db, e.js, cfg, rec.handle, slog.New(slog.NewJSONHandler(logs, nil)),
		prometheus.NewRegistry(), sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)))
	require.NoError(t, err)
	c.lagInterval = 20 * time.Millisecond
	c.minBackoff, c.maxBackoff = 10*time.Millisecond, 200*time.Millisecond
	run(t, c.Run)
	e.publish("e1")

	require.Eventually(t, func() bool { return counter(c.deadLettered) == 1 }, 20*time.Second, 10*time.Millisecond)
	dead := streamMsgs(t, e.js, e.s.dlName)
	require.Len(t, dead, 1)
	var headers strings.Builder
	for k, vs := range dead[0].Header {
		headers.WriteString(k + ": " + strings.Join(vs, ", ") + "\n")
	}
	reason := dead[0].Header.Get(HeaderDeadLetterReason)
	assert.Contains(t, reason, "https://xxxxx@hooks.example.com/xxxxx?xxxxx", "the endpoint is named, masked")
	assert.Contains(t, reason, "connection refused")

	var traced strings.Builder
	for _, s := range spans.Ended() {
		fmt.Fprintf(&traced, "%s %v %s\n", s.Name(), s.Attributes(), s.Status().Description)
		for _, ev := range s.Events() {
			fmt.Fprintf(&traced, "%s %v\n", ev.Name, ev.Attributes)
		}
	}
	require.Contains(t, traced.String(), "connection refused", "the spans record the error")
	require.Contains(t, logs.String(), "event dead-lettered")
	for _, secret := range secrets {
		assert.NotContains(t, headers.String(), secret, "in the dead letter's headers")
		assert.NotContains(t, traced.String(), secret, "in a span")
		assert.NotContains(t, logs.String(), secret, "in the logs")
	}
}
