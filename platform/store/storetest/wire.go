package storetest

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/url"
	"os"
	"sync/atomic"
	"testing"

	"github.com/slipway-dev/slipway/platform/store"
)

// WireCounter forwards TCP to PostgreSQL and reads the client's side of the
// wire protocol, so a test can pin how many round trips an operation costs.
// Every Sync (extended protocol) and Query (simple protocol) message ends a
// request the client then waits on: one round trip. Parse messages count
// the statements prepared.
type WireCounter struct {
	ln            net.Listener
	trips, parses atomic.Int64
}

// Counted is what ran during one WireCounter.Count.
type Counted struct{ Trips, Parses int64 }

// Count runs fn and returns the round trips and prepares it cost.
func (w *WireCounter) Count(fn func()) Counted {
	t0, p0 := w.trips.Load(), w.parses.Load()
	fn()
	return Counted{Trips: w.trips.Load() - t0, Parses: w.parses.Load() - p0}
}

// OpenCounted opens a second pool on db's PostgreSQL database whose every
// byte passes a new WireCounter. db is a database Open made.
func OpenCounted(t testing.TB, db *store.DB, service string) (*store.DB, *WireCounter) {
	t.Helper()
	ctx := context.Background()
	var name string
	if err := db.QueryRowContext(ctx, "SELECT current_database()").Scan(&name); err != nil {
		t.Fatalf("storetest: current database: %v", err)
	}
	u, err := url.Parse(serverURL())
	if err != nil {
		t.Fatalf("storetest: POSTGRES_TEST_URL: %v", err)
	}
	counter := newWireCounter(t, u.Host)
	u.Host, u.Path = counter.ln.Addr().String(), "/"+name
	counted, err := store.Open(ctx, u.String(), service, nil)
	if err != nil {
		t.Fatalf("storetest: open through the wire counter: %v", err)
	}
	t.Cleanup(func() { _ = counted.Close() })
	return counted, counter
}

func newWireCounter(t testing.TB, upstream string) *WireCounter {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("storetest: wire counter: %v", err)
	}
	w := &WireCounter{ln: ln}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := (&net.Dialer{}).DialContext(context.Background(), "tcp", upstream)
			if err != nil {
				_ = c.Close()
				continue
			}
			go func() { _, _ = io.Copy(c, u); _ = c.Close() }()
			go func() { _ = w.forward(u, c); _ = u.Close() }()
		}
	}()
	return w
}

// forward copies the client's messages to the server, counting them: first
// the untyped startup message, then typed ones (type byte, int32 length).
func (w *WireCounter) forward(dst io.Writer, src io.Reader) error {
	var head [5]byte
	if _, err := io.ReadFull(src, head[:4]); err != nil {
		return err
	}
	if err := copyMessage(dst, src, head[:4], binary.BigEndian.Uint32(head[:4])-4); err != nil {
		return err
	}
	for {
		if _, err := io.ReadFull(src, head[:]); err != nil {
			return err
		}
		switch head[0] {
		case 'S', 'Q':
			w.trips.Add(1)
		case 'P':
			w.parses.Add(1)
		}
		if err := copyMessage(dst, src, head[:], binary.BigEndian.Uint32(head[1:])-4); err != nil {
			return err
		}
	}
}

func copyMessage(dst io.Writer, src io.Reader, head []byte, n uint32) error {
	if _, err := dst.Write(head); err != nil {
		return err
	}
	_, err := io.CopyN(dst, src, int64(n))
	return err
}

// serverURL is the PostgreSQL server Open creates its databases on.
func serverURL() string {
	if u := os.Getenv("POSTGRES_TEST_URL"); u != "" {
		return u
	}
	return defaultPostgresURL
}
