package store_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/events"
	platformstore "github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/services/order/internal/domain"
	"github.com/slipway-dev/slipway/services/order/internal/store"
)

// commitCutter forwards TCP to PostgreSQL. Once armed, it lets the next
// write of the client that holds trigger (COMMIT, or the statement that
// commits on its own) through to the server and then cuts the connection
// before the answer comes back: the change committed, and the client cannot
// know.
type commitCutter struct {
	ln       net.Listener
	upstream string
	trigger  atomic.Pointer[[]byte] // lower case
	armed    atomic.Bool
	cuts     atomic.Int64
}

// armOn arms the cutter for the next write holding trigger.
func (p *commitCutter) armOn(trigger string) {
	b := bytes.ToLower([]byte(trigger))
	p.trigger.Store(&b)
	p.armed.Store(true)
}

func newCommitCutter(t *testing.T, upstream string) *commitCutter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &commitCutter{ln: ln, upstream: upstream}
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
			var once sync.Once
			cut := func() { once.Do(func() { _ = c.Close(); _ = u.Close() }) }
			var hold atomic.Bool // the server's answers are dropped from now on
			go func() {
				defer cut()
				buf := make([]byte, 32<<10)
				for {
					n, err := u.Read(buf)
					if n > 0 && !hold.Load() {
						if _, werr := c.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
			go func() {
				defer cut()
				buf := make([]byte, 32<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						trigger := p.trigger.Load()
						commit := trigger != nil && bytes.Contains(bytes.ToLower(buf[:n]), *trigger) && p.armed.CompareAndSwap(true, false)
						if commit {
							hold.Store(true)
						}
						if _, werr := u.Write(buf[:n]); werr != nil {
							return
						}
						if commit {
							time.Sleep(300 * time.Millisecond) // the server commits; its answer is lost
							p.cuts.Add(1)
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return p
}

// cutterDB is a fresh, migrated order database reached through a
// commitCutter.
func cutterDB(t *testing.T) (*platformstore.DB, *commitCutter) {
	t.Helper()
	ctx := context.Background()
	server := os.Getenv("POSTGRES_TEST_URL")
	if server == "" {
		server = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	admin, err := pgx.Connect(ctx, server)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL: %v", err)
		}
		t.Skipf("PostgreSQL is unreachable: %v", err)
	}
	name := fmt.Sprintf("slipway_t_cut_%d", time.Now().UnixNano())
	_, err = admin.Exec(ctx, "CREATE DATABASE "+name)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		_ = admin.Close(context.Background())
	})
	u, err := url.Parse(server)
	require.NoError(t, err)
	cutter := newCommitCutter(t, u.Host)
	u.Host, u.Path = cutter.ln.Addr().String(), "/"+name
	db, err := platformstore.Open(ctx, u.String(), "order", nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	require.NoError(t, db.Migrate(ctx, store.Migrations()))
	require.NoError(t, events.EnsureSchema(ctx, db))
	return db, cutter
}

// CreateOrder's idempotency key makes a lost commit safe to run again: the
// statement that creates the order (its values carry the order id) lands
// and its answer is lost; Create runs it again on a fresh connection, which
// finds the order and inserts nothing (ErrAlreadyExists, which CreateOrder
// answers with the stored order). One order: nothing is doubled.
func TestCreateWhoseCommitAnswerIsLostIsNotDoubled(t *testing.T) {
	db, cutter := cutterDB(t)
	e := env{db: db, store: store.New(db), commits: &atomic.Int64{}}
	o := pending(order("u1", "key-1", t0))

	cutter.armOn(o.ID)
	err := e.store.Create(t.Context(), o)
	require.Equal(t, int64(1), cutter.cuts.Load(), "the statement's answer was cut (Create: %v)", err)
	require.ErrorIs(t, err, domain.ErrAlreadyExists, "the retry found the order the first attempt committed")
	assert.Equal(t, 1, e.count(t, "orders"))

	got, err := e.store.ByKey(t.Context(), "u1", "key-1")
	require.NoError(t, err)
	assert.Equal(t, o, got, "what CreateOrder then answers")
}
