package events

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/slipway-dev/slipway/platform/events/natstest"
	"github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/platform/store/storetest"
)

// Test timings: short enough that the suite stays fast, long enough that a
// loaded machine does not make it flaky.
const (
	waitFor = 15 * time.Second
	tick    = 10 * time.Millisecond
)

// broker is a NATS server a test can use without restarting it.
type broker struct {
	name string
	url  func(t testing.TB) string
}

// brokers are the servers the consumer tests run against: the shared server
// (whatever version the environment runs) and the embedded one (the version
// this module pins, which the dev runner embeds).
func brokers() []broker {
	return []broker{
		{name: "shared", url: natstest.Shared},
		{name: "embedded", url: func(t testing.TB) string { return natstest.StartOpen(t).URL() }},
	}
}

// connect connects through Connect and closes the connection at cleanup.
func connect(t testing.TB, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, js, err := Connect(ctx, url, "events-test", testLogger(t))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	return nc, js
}

// testStream is a stream with names no other test (or test run sharing the
// server) uses: stream T<id> over subjects t<id>.>, and a dead-letter stream
// TDL<id> over t<id>dl.>. Both are deleted at cleanup.
type testStream struct {
	name, prefix     string
	dlName, dlPrefix string
}

func (s testStream) subject(name string) string { return s.prefix + "." + name }

func newStream(t testing.TB, js jetstream.JetStream) testStream {
	t.Helper()
	id := randomID()
	s := testStream{name: "T" + id, prefix: "t" + id, dlName: "TDL" + id, dlPrefix: "t" + id + "dl"}
	ctx := context.Background()
	require.NoError(t, EnsureStream(ctx, js, s.name, []string{s.prefix + ".>"}))
	require.NoError(t, EnsureStream(ctx, js, s.dlName, []string{s.dlPrefix + ".>"}))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		// Best effort: the broker of a restart test may be gone already.
		_ = js.DeleteStream(ctx, s.name)
		_ = js.DeleteStream(ctx, s.dlName)
	})
	return s
}

func randomID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return strings.ToUpper(hex.EncodeToString(b))
}

// streamMsgs returns every message in the stream, in stream order.
func streamMsgs(t testing.TB, js jetstream.JetStream, stream string) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, stream)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		require.NoError(t, err)
		out = append(out, m)
	}
	return out
}

func streamCount(t testing.TB, js jetstream.JetStream, stream string) uint64 {
	t.Helper()
	s, err := js.Stream(context.Background(), stream)
	require.NoError(t, err)
	info, err := s.Info(context.Background())
	require.NoError(t, err)
	return info.State.Msgs
}

// openDB returns a fresh database of the dialect with the events schema.
func openDB(t testing.TB, d store.Dialect) *store.DB {
	t.Helper()
	db := storetest.Open(t, d)
	require.NoError(t, EnsureSchema(context.Background(), db))
	return db
}

// event is an envelope with a StringValue payload equal to its id.
func event(s testStream, id string) Envelope {
	return Envelope{ID: id, Subject: s.subject("created"), Payload: wrapperspb.String("payload of " + id)}
}

// enqueue commits each envelope in its own transaction.
func enqueue(ctx context.Context, t testing.TB, db *store.DB, envs ...Envelope) {
	t.Helper()
	for _, e := range envs {
		require.NoError(t, db.InTx(ctx, func(tx *sql.Tx) error { return Enqueue(ctx, tx, e) }))
	}
}

// fast makes a relay poll, retry and report quickly.
func fast(r *Relay) *Relay {
	r.pollInterval = 20 * time.Millisecond
	r.publishTimeout = time.Second
	r.minBackoff = 10 * time.Millisecond
	r.maxBackoff = 100 * time.Millisecond
	r.statsInterval = 20 * time.Millisecond
	return r
}

// run starts fn in a goroutine and returns a stop function that cancels it
// and checks that it returned nil; cleanup stops it too.
func run(t testing.TB, fn func(context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned %v, want nil on cancel", err)
				}
			case <-time.After(waitFor):
				t.Errorf("Run did not return within %s of cancel", waitFor)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// testLogger logs through t until the test ends, then drops lines, so the
// connection's asynchronous handlers never log into a finished test.
func testLogger(t testing.TB) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// queryInt runs a query that returns one integer.
func queryInt(t testing.TB, db *store.DB, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRowContext(context.Background(), query, args...).Scan(&n))
	return n
}
