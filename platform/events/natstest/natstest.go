// Package natstest runs a real NATS JetStream server inside a test process,
// so event tests need nothing installed: nats-server as a library, on a free
// port of 127.0.0.1, with its storage in the test's temp dir. StartOpen runs
// one open to anyone; Start runs one with the shop's users and their
// permissions (events.Accesses in api/events), so tests can attack the
// permission matrix the deployment uses; Shared prefers the NATS server the
// environment runs.
package natstest

import (
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Server is an embedded nats-server that a test can stop and start again,
// as a broker outage would: it comes back on the same port with the same
// store, so clients reconnect and streams survive.
type Server struct {
	t    testing.TB
	opts *server.Options
	srv  *server.Server
}

// Option configures a Server.
type Option func(*server.Options)

// WithoutJetStream runs a plain NATS server, for tests of what a client does
// when JetStream is missing.
func WithoutJetStream() Option {
	return func(o *server.Options) { o.JetStream = false }
}

// StartOpen runs a JetStream server for t that anyone may use; it is shut
// down when t ends.
func StartOpen(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{t: t, opts: &server.Options{
		ServerName: "natstest",
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		JetStream:  true,
		StoreDir:   t.TempDir(),
		NoSigs:     true,
		NoLog:      true,
	}}
	for _, opt := range opts {
		opt(s.opts)
	}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Start starts the server again after Stop, on its port and store. It does
// nothing while the server runs.
func (s *Server) Start() {
	s.t.Helper()
	if s.srv != nil {
		return
	}
	srv, err := server.NewServer(s.opts.Clone()) // it keeps and fills in what it is given
	if err != nil {
		s.t.Fatalf("natstest: %v", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		s.t.Fatal("natstest: the server did not accept connections within 10s")
	}
	s.opts.Port = srv.Addr().(*net.TCPAddr).Port
	s.srv = srv
}

// Stop shuts the server down and waits for it, flushing JetStream to disk.
func (s *Server) Stop() {
	if s.srv == nil {
		return
	}
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
	s.srv = nil
}

// URL is the server's client URL, without credentials; it stays the same
// across Stop and Start.
func (s *Server) URL() string {
	return "nats://" + net.JoinHostPort(s.opts.Host, strconv.Itoa(s.opts.Port))
}

// DefaultSharedURL is the NATS server Shared uses unless NATS_TEST_URL says
// otherwise.
const DefaultSharedURL = "nats://127.0.0.1:4222"

// Shared is the URL of the NATS server the environment runs (NATS_TEST_URL,
// default DefaultSharedURL), so tests also run against its version; when it
// does not answer, Shared starts an embedded one for t, unless CI=true,
// where a missing server fails the test.
func Shared(t testing.TB) string {
	t.Helper()
	url := os.Getenv("NATS_TEST_URL")
	if url == "" {
		url = DefaultSharedURL
	}
	nc, err := nats.Connect(url, nats.Timeout(2*time.Second), nats.NoReconnect())
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("NATS at %s is unreachable (set NATS_TEST_URL): %v", url, err)
		}
		t.Logf("NATS at %s is unreachable (%v); using an embedded server", url, err)
		return StartOpen(t).URL()
	}
	nc.Close()
	return url
}
