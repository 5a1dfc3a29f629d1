package store_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/events"
	platformstore "github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/platform/store/storetest"
	"github.com/slipway-dev/slipway/services/order/internal/domain"
	"github.com/slipway-dev/slipway/services/order/internal/store"
)

// The wire counter is the inventory store's (services/inventory/internal/store/roundtrip_test.go).

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

// countedPostgres is a fresh, migrated PostgreSQL order database and a
// store over it whose every byte passes a wireCounter.
func countedPostgres(t *testing.T) (*store.Store, *wireCounter) {
	t.Helper()
	ctx := context.Background()
	direct := storetest.Open(t, platformstore.Postgres)
	require.NoError(t, direct.Migrate(ctx, store.Migrations()))
	require.NoError(t, events.EnsureSchema(ctx, direct))
	var name string
	require.NoError(t, direct.QueryRowContext(ctx, "SELECT current_database()").Scan(&name))

	server := os.Getenv("POSTGRES_TEST_URL")
	if server == "" {
		server = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	u, err := url.Parse(server)
	require.NoError(t, err)
	counter := newWireCounter(t, u.Host)
	u.Host, u.Path = counter.ln.Addr().String(), "/"+name
	db, err := platformstore.Open(ctx, u.String(), "order", nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return store.New(db), counter
}

// pricedInventory is the inventory as CreateOrder sees it, answering at
// once: every product costs 1250 USD cents, and every Reserve succeeds.
type pricedInventory struct{}

func (pricedInventory) Prices(_ context.Context, ids []string) (map[string]domain.Price, error) {
	prices := make(map[string]domain.Price, len(ids))
	for _, id := range ids {
		prices[id] = domain.Price{Name: "Name of " + id, Unit: usd(1250)}
	}
	return prices, nil
}

func (i pricedInventory) Reserve(ctx context.Context, _ string, items []domain.Item) (map[string]domain.Price, error) {
	ids := make([]string, len(items))
	for n, it := range items {
		ids[n] = it.ProductID
	}
	return i.Prices(ctx, ids)
}

func (pricedInventory) Release(context.Context, string) error { return nil }

// TestCreateOrderRoundTrips pins what one CreateOrder of two products costs
// the order service's PostgreSQL, counted on the wire: the idempotency-key
// lookup and the one statement that places the order, its items and its
// OrderPlaced (7 round trips when they were a transaction of one insert per
// row: BEGIN, order, two items, outbox, COMMIT).
// Statements are prepared once per connection (pgx's statement cache), so
// the orders after the first prepare nothing.
func TestCreateOrderRoundTrips(t *testing.T) {
	s, counter := countedPostgres(t)
	svc := domain.NewOrderService(s, pricedInventory{}, nil, slog.New(slog.DiscardHandler))
	actor := domain.Actor{Subject: "u1", Role: domain.RoleCustomer}
	items := []domain.Item{{ProductID: "a", Quantity: 1}, {ProductID: "b", Quantity: 2}}
	createOrder := func(i int) func() {
		return func() {
			_, err := svc.CreateOrder(t.Context(), actor, fmt.Sprintf("key-%08d", i), items)
			require.NoError(t, err)
		}
	}
	first := counter.count(createOrder(0))
	t.Logf("first order: %d round trips, %d statements prepared", first.trips, first.parses)
	for i := 1; i <= 3; i++ {
		got := counter.count(createOrder(i))
		t.Logf("order %d: %d round trips, %d statements prepared", i, got.trips, got.parses)
		assert.Equal(t, counted{trips: 2}, got, "order %d", i)
	}
}
