package store_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	platformstore "github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/platform/store/storetest"
	"github.com/slipway-dev/slipway/services/inventory/internal/domain"
	"github.com/slipway-dev/slipway/services/inventory/internal/store"
)

// wireCounter forwards TCP to PostgreSQL and reads the client's side of the
// wire protocol. Every Sync (extended protocol) and Query (simple protocol)
// message ends a request the client then waits on: one round trip. Parse
// messages count the statements prepared.
type wireCounter struct {
	ln            net.Listener
	trips, parses atomic.Int64
}

func newWireCounter(t *testing.T, upstream string) *wireCounter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	w := &wireCounter{ln: ln}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", upstream)
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
func (w *wireCounter) forward(dst io.Writer, src io.Reader) error {
	var head [5]byte
	if _, err := io.ReadFull(src, head[:4]); err != nil {
		return err
	}
	if err := copyBody(dst, src, head[:4], binary.BigEndian.Uint32(head[:4])-4); err != nil {
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
		if err := copyBody(dst, src, head[:], binary.BigEndian.Uint32(head[1:])-4); err != nil {
			return err
		}
	}
}

func copyBody(dst io.Writer, src io.Reader, head []byte, n uint32) error {
	if _, err := dst.Write(head); err != nil {
		return err
	}
	_, err := io.CopyN(dst, src, int64(n))
	return err
}

// counted is the count of what ran between two reads of a wireCounter.
type counted struct{ trips, parses int64 }

func (w *wireCounter) count(fn func()) counted {
	t0, p0 := w.trips.Load(), w.parses.Load()
	fn()
	return counted{trips: w.trips.Load() - t0, parses: w.parses.Load() - p0}
}

// countedPostgres is a fresh, migrated PostgreSQL database holding products
// a and b, and a store over it whose every byte passes a wireCounter.
func countedPostgres(t *testing.T) (*store.Store, *wireCounter) {
	t.Helper()
	ctx := context.Background()
	direct := storetest.Open(t, platformstore.Postgres)
	require.NoError(t, direct.Migrate(ctx, store.Migrations()))
	_, err := store.New(direct).AddProducts(ctx, product("a", 1000), product("b", 1000))
	require.NoError(t, err)
	var name string
	require.NoError(t, direct.QueryRowContext(ctx, "SELECT current_database()").Scan(&name))

	u, err := url.Parse(postgresURL())
	require.NoError(t, err)
	counter := newWireCounter(t, u.Host)
	u.Host, u.Path = counter.ln.Addr().String(), "/"+name
	db, err := platformstore.Open(ctx, u.String(), "inventory", nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return store.New(db), counter
}

// TestReserveRoundTrips pins what one CreateOrder costs the inventory's
// PostgreSQL, counted on the wire: its Reserve, which answers the prices
// the order charges, so the order service reads no product. BEGIN, one
// statement and COMMIT, whatever the number of products (9 round trips for
// two products when the order service read each product and Reserve ran a
// statement per row). Statements are prepared once per connection (pgx's
// statement cache), so the orders after the first prepare nothing.
func TestReserveRoundTrips(t *testing.T) {
	s, counter := countedPostgres(t)
	svc := domain.NewInventoryService(s)
	items := []domain.Item{{ProductID: "a", Quantity: 1}, {ProductID: "b", Quantity: 2}}
	createOrder := func(i int) func() {
		return func() {
			r, err := svc.Reserve(t.Context(), fmt.Sprintf("order-%d", i), items)
			require.NoError(t, err)
			require.Len(t, r.Items, 2)
			assert.Equal(t, domain.Money{AmountMinor: 1250, Currency: "EUR"}, r.Items[1].UnitPrice)
		}
	}
	first := counter.count(createOrder(0))
	t.Logf("first order: %d round trips, %d statements prepared", first.trips, first.parses)
	for i := 1; i <= 3; i++ {
		got := counter.count(createOrder(i))
		t.Logf("order %d: %d round trips, %d statements prepared", i, got.trips, got.parses)
		assert.Equal(t, counted{trips: 3}, got, "order %d", i)
	}
}

// postgresURL is the server storetest creates its databases on.
func postgresURL() string {
	if u := os.Getenv("POSTGRES_TEST_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}
