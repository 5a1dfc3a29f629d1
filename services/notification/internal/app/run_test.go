package app_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	notificationv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/notification/v1"
	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/events"
	"github.com/slipway-dev/slipway/platform/events/natstest"
	"github.com/slipway-dev/slipway/services/notification/internal/app"
)

// logBuffer collects the service's log lines as they are written.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// find returns the first JSON log line whose msg is msg.
func (b *logBuffer) find(msg string) (map[string]any, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	sc := bufio.NewScanner(bytes.NewReader(b.buf.Bytes()))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) == nil && line["msg"] == msg {
			return line, true
		}
	}
	return nil, false
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// service is one notification process started through app.Run, with the
// NATS server it consumes from.
type service struct {
	grpcAddr, httpAddr string
	conn               *grpc.ClientConn
	client             notificationv1.NotificationServiceClient
	signer             *auth.Signer
	logs               *logBuffer
	nats               *natstest.Server
	js                 jetstream.JetStream
}

// start runs the service on SQLite with ports 0, an embedded NATS server
// and a JWKS it controls, plus env, and stops it (asserting a clean stop)
// when the test ends.
func start(t *testing.T, env map[string]string) *service {
	t.Helper()
	_, key, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	signer := auth.NewSigner(key, auth.DefaultIssuer, time.Hour)
	jwks := httptest.NewServer(signer.JWKS())
	t.Cleanup(jwks.Close)
	ns := natstest.StartOpen(t)

	vars := map[string]string{
		"GRPC_ADDR":     "127.0.0.1:0",
		"HTTP_ADDR":     "127.0.0.1:0",
		"DATABASE_URL":  "sqlite://" + filepath.Join(t.TempDir(), "notification.db"),
		"AUTH_JWKS_URL": jwks.URL,
		"NATS_URL":      ns.URL(),
		"DRAIN_DELAY":   "0s",
	}
	for k, v := range env {
		vars[k] = v
	}
	logs := &logBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, nil, func(k string) string { return vars[k] }, logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err, "a clean stop")
		case <-time.After(30 * time.Second):
			t.Error("the service did not stop")
		}
	})

	s := &service{signer: signer, logs: logs, nats: ns}
	deadline := time.After(15 * time.Second)
	for {
		if line, ok := logs.find("serving"); ok {
			s.grpcAddr, _ = line["grpc_addr"].(string)
			s.httpAddr, _ = line["http_addr"].(string)
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the service stopped before serving: %v\n%s", err, logs)
		case <-deadline:
			t.Fatalf("the service did not report serving\n%s", logs)
		case <-time.After(20 * time.Millisecond):
		}
	}
	conn, err := grpc.NewClient(s.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	s.conn = conn
	s.client = notificationv1.NewNotificationServiceClient(conn)

	nc, err := nats.Connect(ns.URL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	s.js, err = jetstream.New(nc)
	require.NoError(t, err)
	// ORDERS is order's to create, as order does at its start; the
	// consumer waits for it.
	require.NoError(t, events.EnsureStream(t.Context(), s.js, "ORDERS", []string{"slipway.order.>"}))
	return s
}

// token is a bearer token for the customer userID, signed with the key the
// service trusts.
func (s *service) token(t *testing.T, userID string) string {
	t.Helper()
	token, _, err := s.signer.Sign(auth.Claims{Subject: userID, Role: auth.RoleCustomer})
	require.NoError(t, err)
	return token
}

// publish puts an event on the ORDERS stream as the order service's relay
// does: protobuf payload, Nats-Msg-Id msgID, its type in a header.
func (s *service) publish(t *testing.T, subject, msgID string, event proto.Message) {
	t.Helper()
	data, err := proto.Marshal(event)
	require.NoError(t, err)
	msg := nats.NewMsg(subject)
	msg.Data = data
	msg.Header.Set(jetstream.MsgIDHeader, msgID)
	msg.Header.Set(events.HeaderEventType, string(proto.MessageName(event)))
	msg.Header.Set(events.HeaderContentType, events.ContentTypeProtobuf)
	ack, err := s.js.PublishMsg(t.Context(), msg)
	require.NoError(t, err)
	require.False(t, ack.Duplicate, "the stream took message %s", msgID)
}

// metric reads one sample from /metrics; 0 when it is not there yet.
func (s *service) metric(t *testing.T, series string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + s.httpAddr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	for line := range strings.Lines(string(body)) {
		if value, ok := strings.CutPrefix(strings.TrimSpace(line), series+" "); ok {
			v, err := strconv.ParseFloat(value, 64)
			require.NoError(t, err, line)
			return v
		}
	}
	return 0
}

// processed is how many messages the order events consumer finished with result.
func (s *service) processed(t *testing.T, result string) float64 {
	t.Helper()
	return s.metric(t, `slipway_consumer_processed_total{consumer="notification",result="`+result+`"}`)
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func TestRunServesWithItsDependencies(t *testing.T) {
	s := start(t, nil)
	for _, path := range []string{"/healthz", "/readyz", "/openapi.yaml", "/metrics"} {
		resp, err := http.Get("http://" + s.httpAddr + path)
		require.NoError(t, err, path)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", path, body)
		if path == "/readyz" {
			assert.Contains(t, string(body), `"nats"`, "NATS is reported by readiness")
			assert.Contains(t, string(body), `"database"`)
		}
	}

	t.Run("the dead-letter stream exists at start", func(t *testing.T) {
		for _, name := range []string{"DEADLETTER"} {
			_, err := s.js.Stream(t.Context(), name)
			assert.NoError(t, err, name)
		}
	})
	t.Run("NATS going away degrades the service but keeps it in rotation", func(t *testing.T) {
		s.nats.Stop()
		waitFor(t, "/readyz to report NATS down", func() bool {
			resp, err := http.Get("http://" + s.httpAddr + "/readyz")
			require.NoError(t, err)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			// Reads keep working without the broker; the consumer catches up
			// when it returns, so the instance stays ready.
			return resp.StatusCode == http.StatusOK && strings.Contains(string(body), `"status":"degraded"`)
		})
	})
}

func TestRunRefusesBadStarts(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
		is      error
	}{
		{name: "help", args: []string{"--help"}, is: flag.ErrHelp},
		{name: "a stray argument", args: []string{"serve"}, wantErr: "unexpected arguments"},
		{name: "a config file that is missing", args: []string{"--config", "/nonexistent/notification.yaml"}, wantErr: "notification.yaml"},
		{name: "a bad database url", env: map[string]string{"DATABASE_URL": "mysql://db"}, wantErr: "DATABASE_URL"},
		{name: "a bad NATS url", env: map[string]string{"NATS_URL": "http://broker"}, wantErr: "NATS_URL"},
		{name: "a bad webhook url", env: map[string]string{"NOTIFY_WEBHOOK_URL": "hooks.example.com"}, wantErr: "NOTIFY_WEBHOOK_URL"},
		{
			name: "no NATS server",
			env: map[string]string{
				"NATS_URL": "nats://127.0.0.1:1", "GRPC_ADDR": "127.0.0.1:0", "HTTP_ADDR": "127.0.0.1:0",
				"DATABASE_URL": "sqlite://" + filepath.Join(t.TempDir(), "n.db"),
			},
			wantErr: "nats",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			err := app.Run(t.Context(), tt.args, func(k string) string { return tt.env[k] }, &out)
			require.Error(t, err)
			if tt.is != nil {
				assert.ErrorIs(t, err, tt.is)
			}
			assert.ErrorContains(t, err, tt.wantErr)
		})
	}
}
