package app_test

import (
	"flag"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	notificationv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/notification/v1"
	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/events"
	"github.com/slipway-dev/slipway/platform/events/natstest"
	"github.com/slipway-dev/slipway/platform/server/servertest"
	"github.com/slipway-dev/slipway/services/notification/internal/app"
)

// service is one notification process started through app.Run, with the
// NATS server it consumes from.
type service struct {
	*servertest.Process
	conn   *grpc.ClientConn
	client notificationv1.NotificationServiceClient
	signer *auth.Signer
	nats   *natstest.Server
	js     jetstream.JetStream
}

// start runs the service on SQLite with ports 0, an embedded NATS server
// and a JWKS it controls, plus env, and stops it (asserting a clean stop)
// when the test ends.
func start(t *testing.T, env map[string]string) *service {
	t.Helper()
	signer, jwksURL := servertest.Issuer(t)
	ns := natstest.StartOpen(t)

	vars := map[string]string{
		"GRPC_ADDR":     "127.0.0.1:0",
		"HTTP_ADDR":     "127.0.0.1:0",
		"DATABASE_URL":  "sqlite://" + filepath.Join(t.TempDir(), "notification.db"),
		"AUTH_JWKS_URL": jwksURL,
		"NATS_URL":      ns.URL(),
		"DRAIN_DELAY":   "0s",
	}
	for k, v := range env {
		vars[k] = v
	}
	s := &service{Process: servertest.Start(t, app.Run, vars), signer: signer, nats: ns}
	s.conn = servertest.Dial(t, s.GRPCAddr)
	s.client = notificationv1.NewNotificationServiceClient(s.conn)

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
	resp, err := http.Get("http://" + s.HTTPAddr + "/metrics")
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
		resp, err := http.Get("http://" + s.HTTPAddr + path)
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
			resp, err := http.Get("http://" + s.HTTPAddr + "/readyz")
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
	servertest.RefusesBadStarts(t, app.Run, []servertest.BadStart{
		{Name: "help", Args: []string{"--help"}, Is: flag.ErrHelp},
		{Name: "a stray argument", Args: []string{"serve"}, WantErr: "unexpected arguments"},
		{Name: "a config file that is missing", Args: []string{"--config", "/nonexistent/notification.yaml"}, WantErr: "notification.yaml"},
		{Name: "a bad database url", Env: map[string]string{"DATABASE_URL": "mysql://db"}, WantErr: "DATABASE_URL"},
		{Name: "a bad NATS url", Env: map[string]string{"NATS_URL": "http://broker"}, WantErr: "NATS_URL"},
		{Name: "a bad webhook url", Env: map[string]string{"NOTIFY_WEBHOOK_URL": "hooks.example.com"}, WantErr: "NOTIFY_WEBHOOK_URL"},
		{
			Name: "no NATS server",
			Env: map[string]string{
				"NATS_URL": "nats://127.0.0.1:1", "GRPC_ADDR": "127.0.0.1:0", "HTTP_ADDR": "127.0.0.1:0",
				"DATABASE_URL": "sqlite://" + filepath.Join(t.TempDir(), "n.db"),
			},
			WantErr: "nats",
		},
	})
}
