// Package etcdtest runs a real single-member etcd for a test, so discovery is
// tested against etcd itself rather than a fake.
//
// The member is the etcd binary, built from the version pinned as a tool in
// tools/gen/go.mod (go tool go.etcd.io/etcd/server/v3) and run as a child
// process, not embedded: so the etcd server's packages and their
// dependencies are in no module's build but tools/gen's, neither platform's
// nor any service's. The first use builds it once into the Go build cache.
package etcdtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/slipway-dev/slipway/platform/gentool"
)

// Timeouts: building the binary the first time, a member electing itself
// leader, and a member stopping on SIGTERM before it is killed.
const (
	buildTimeout = 10 * time.Minute
	readyTimeout = 30 * time.Second
	stopTimeout  = 10 * time.Second
)

// etcdTool is the tool's package path in tools/gen/go.mod.
const etcdTool = "go.etcd.io/etcd/server/v3"

// Server is an etcd member listening on 127.0.0.1 ports of its own, with its
// data in a per-test directory.
type Server struct {
	// Endpoint is the client address (host:port) for clientv3.
	Endpoint string

	args []string
	proc *exec.Cmd
	done chan struct{} // closed when proc has exited
	out  *lockedBuffer // the member's output, shown when it fails
}

// Start runs an etcd member until the test ends and waits until it serves.
func Start(t testing.TB) *Server {
	t.Helper()
	client, peer := freeAddr(t), freeAddr(t)
	const name = "slipway-test"
	s := &Server{
		Endpoint: client,
		args: []string{
			"--name", name,
			"--data-dir", t.TempDir(),
			"--listen-client-urls", "http://" + client,
			"--advertise-client-urls", "http://" + client,
			"--listen-peer-urls", "http://" + peer,
			"--initial-advertise-peer-urls", "http://" + peer,
			"--initial-cluster", name + "=http://" + peer,
			"--log-level", "error",
		},
	}
	s.Restart(t)
	t.Cleanup(s.Stop)
	return s
}

// Stop shuts the member down, keeping its data, as a stop of etcd looks to
// clients. Stopping a stopped member does nothing.
func (s *Server) Stop() {
	if s.proc == nil {
		return
	}
	_ = s.proc.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(stopTimeout):
		_ = s.proc.Process.Kill()
		<-s.done
	}
	s.proc = nil
}

// Restart starts the member again on the same ports and data (its keys and
// leases survive) and waits until it serves. On a running member it stops
// it first.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	bin, err := binary()
	if err != nil {
		t.Fatalf("etcdtest: %v", err)
	}
	s.out = &lockedBuffer{}
	// The member outlives this call: Stop ends it, not a context.
	cmd := exec.CommandContext(context.Background(), bin, s.args...) //nolint:gosec // bin is the etcd that go tool built from tools/gen's pin
	cmd.Stdout, cmd.Stderr = s.out, s.out
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatalf("etcdtest: start etcd: %v", err)
	}
	s.proc, s.done = cmd, make(chan struct{})
	go func(done chan struct{}) {
		_ = cmd.Wait()
		close(done)
	}(s.done)
	if err := s.waitReady(); err != nil {
		s.Stop()
		t.Fatalf("etcdtest: %v\n%s", err, s.out)
	}
}

// waitReady polls the member's /health until it reports a leader.
func (s *Server) waitReady() error {
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return errors.New("etcd exited before it served")
		default:
		}
		if s.healthy() {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("etcd not ready after %s", readyTimeout)
}

// healthy reports whether /health answers 200: the member serves and has a
// leader.
func (s *Server) healthy() bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.Endpoint+"/health", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
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

// binary returns the path of the etcd executable, building it (once per
// test process, and once per build cache) with go tool -n, which prints the
// cached executable instead of running it.
var binary = sync.OnceValues(func() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	bin, err := gentool.Go(ctx, "tool", "-n", etcdTool)
	if err != nil {
		return "", fmt.Errorf("build etcd: %w", err)
	}
	return bin, nil
})

// freeAddr returns a 127.0.0.1 address whose port was free a moment ago.
func freeAddr(t testing.TB) string {
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
	return addr
}

// lockedBuffer collects the member's output while it runs.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
