// Package etcdtest runs a real single-member etcd inside a test process, so
// discovery is tested against etcd itself rather than a fake.
package etcdtest

import (
	"context"
	"net"
	"net/url"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// readyTimeout bounds how long a member may take to elect itself leader.
const readyTimeout = 30 * time.Second

// Server is an embedded etcd member listening on 127.0.0.1 ports of its own,
// with its data in a per-test directory.
type Server struct {
	// Endpoint is the client address (host:port) for clientv3.
	Endpoint string

	cfg  *embed.Config
	etcd *embed.Etcd
}

// Start runs an embedded etcd until the test ends and waits until it serves.
func Start(t testing.TB) *Server {
	t.Helper()
	cfg := embed.NewConfig()
	cfg.Name = "slipway-test"
	cfg.Dir = t.TempDir()
	cfg.LogLevel = "error"
	clientURL := freeURL(t)
	peerURL := freeURL(t)
	cfg.ListenClientUrls = []url.URL{clientURL}
	cfg.AdvertiseClientUrls = []url.URL{clientURL}
	cfg.ListenPeerUrls = []url.URL{peerURL}
	cfg.AdvertisePeerUrls = []url.URL{peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	s := &Server{Endpoint: clientURL.Host, cfg: cfg}
	s.Restart(t)
	t.Cleanup(s.Stop)
	return s
}

// Stop shuts the member down, keeping its data, as a crash of etcd would
// look to clients. Stopping a stopped member does nothing.
func (s *Server) Stop() {
	if s.etcd != nil {
		s.etcd.Close()
		s.etcd = nil
	}
}

// Restart starts the member again on the same ports and data (its keys and
// leases survive) and waits until it serves. On a running member it stops
// it first.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	e, err := embed.StartEtcd(s.cfg)
	if err != nil {
		t.Fatalf("etcdtest: start etcd: %v", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		t.Fatalf("etcdtest: etcd failed: %v", err)
	case <-time.After(readyTimeout):
		e.Close()
		t.Fatalf("etcdtest: etcd not ready after %s", readyTimeout)
	}
	s.etcd = e
}

// Client returns a client of the member, closed when the test ends.
func (s *Server) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{s.Endpoint},
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatalf("etcdtest: client: %v", err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// freeURL returns an http URL on a 127.0.0.1 port that was free a moment ago.
func freeURL(t testing.TB) url.URL {
	t.Helper()
	var lc net.ListenConfig
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("etcdtest: find a free port: %v", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatalf("etcdtest: find a free port: %v", err)
	}
	return url.URL{Scheme: "http", Host: addr}
}
