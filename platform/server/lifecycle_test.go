package server_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/platform/server"
	"github.com/slipway-dev/slipway/platform/telemetry"
)

// events records the order in which lifecycle steps happened.
type events struct {
	mu  sync.Mutex
	log []string
}

func (e *events) add(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.log = append(e.log, s)
}

func (e *events) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.log...)
}

func TestWorkersRegistrationAndClosersRunInLifecycleOrder(t *testing.T) {
	var ev events
	var registeredAddr string
	h := start(t, nil,
		server.WithWorker("relay", func(ctx context.Context) error {
			ev.add("worker started")
			<-ctx.Done()
			ev.add("worker stopped")
			return nil
		}),
		server.WithRegistration(func(_ context.Context, addr string) (func(context.Context) error, error) {
			registeredAddr = addr
			ev.add("registered")
			return func(context.Context) error { ev.add("deregistered"); return nil }, nil
		}),
		server.WithCloser("database", func() error { ev.add("closed"); return nil }),
	)
	require.Eventually(t, func() bool { return len(ev.list()) >= 2 }, 2*time.Second, 5*time.Millisecond)
	assert.Equal(t, h.app.GRPCAddr(), registeredAddr, "the instance registers its bound address")

	h.cancel()
	select {
	case err := <-h.done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	h.done <- nil
	got := ev.list()
	assert.ElementsMatch(t, []string{"worker started", "registered"}, got[:2])
	assert.Equal(t, []string{"deregistered", "worker stopped", "closed"}, got[2:],
		"withdraw from discovery first, stop workers after the servers, close last")
}

func TestAFailingWorkerStopsTheApp(t *testing.T) {
	var base config.Base
	base.SetDefaults("catalog", 0, 0)
	base.GRPCAddr, base.HTTPAddr, base.DrainDelay = "127.0.0.1:0", "127.0.0.1:0", 0
	app, err := server.New(base, &base, slog.New(slog.NewTextHandler(io.Discard, nil)), telemetry.NewRegistry(),
		sdktrace.NewTracerProvider(), server.WithWorker("consumer", func(context.Context) error {
			return errors.New("stream deleted")
		}))
	require.NoError(t, err)

	done := make(chan error, 1)
	go func() { done <- app.Run(context.Background()) }()
	select {
	case err := <-done:
		require.Error(t, err)
		assert.Contains(t, err.Error(), "worker consumer: stream deleted")
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its worker failed")
	}
}
