package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/platform/errkind"
	"github.com/slipway-dev/slipway/platform/store"
)

// terminateOthers ends every other session of db's database from admin, a
// connection held aside, and waits until they are gone: what a fast
// shutdown, a failover or an operator's pg_terminate_backend does to the
// pool's connections.
func terminateOthers(t *testing.T, admin *sql.Conn) int {
	t.Helper()
	var n int
	require.NoError(t, admin.QueryRowContext(context.Background(), `SELECT count(*) FROM (
		SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()) AS t`).Scan(&n))
	return n
}

// adminConn holds one connection of db aside, so that it survives
// terminateOthers.
func adminConn(t *testing.T, db *store.DB) *sql.Conn {
	t.Helper()
	c, err := db.Conn(context.Background())
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func stockOf(t *testing.T, db *store.DB, id string) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRowContext(context.Background(), "SELECT stock FROM items WHERE id = $1", id).Scan(&n))
	return n
}

func TestInTxRunsAgainWhenTheConnectionIsLostBeforeCommit(t *testing.T) {
	ctx := context.Background()
	db := openWithItems(t, store.Postgres)
	admin := adminConn(t, db)

	attempts := 0
	err := db.InTx(ctx, func(tx *sql.Tx) error {
		attempts++
		if err := insertItem(ctx, tx, "a", "A", 1); err != nil {
			return err
		}
		if attempts == 1 {
			require.Positive(t, terminateOthers(t, admin), "the transaction's own backend is terminated")
		}
		_, err := tx.ExecContext(ctx, "UPDATE items SET stock = stock + 1 WHERE id = 'a'")
		return err
	})
	require.NoError(t, err, "run again on a fresh connection")
	assert.Equal(t, 2, attempts, "the first attempt lost its connection mid-transaction, the second committed")
	assert.Equal(t, 1, countItems(t, db), "no duplicate: the first attempt was rolled back by the server")
	assert.Equal(t, 2, stockOf(t, db, "a"))
}

// A connection lost during COMMIT leaves the outcome unknown: the first
// attempt may have committed. InTx runs it again only when told the
// transaction is idempotent.
func TestInTxRetriesALostCommitOnlyWhenIdempotent(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name         string
		opts         []store.TxOption
		wantAttempts int
	}{
		{"not idempotent: not retried", nil, 1},
		{"idempotent: retried", []store.TxOption{store.Idempotent()}, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db := openWithItems(t, store.Postgres)
			admin := adminConn(t, db)
			attempts := 0
			err := db.InTx(ctx, func(tx *sql.Tx) error {
				attempts++
				// ON CONFLICT DO NOTHING: running it after a commit changes nothing.
				if _, err := tx.ExecContext(ctx, "INSERT INTO items (id, sku, stock) VALUES ('a', 'A', 1) ON CONFLICT DO NOTHING"); err != nil {
					return err
				}
				if attempts == 1 {
					terminateOthers(t, admin) // COMMIT goes out on a dead connection
				}
				return nil
			}, tt.opts...)
			assert.Equal(t, tt.wantAttempts, attempts)
			if tt.wantAttempts == 1 {
				require.Error(t, err)
				assert.ErrorIs(t, err, errkind.Unavailable, "the client learns the database failed, and may retry with its idempotency key")
				assert.Contains(t, err.Error(), "store: commit:")
				assert.Equal(t, 0, countItems(t, db), "the server rolled the transaction back; the client could not know")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, 1, countItems(t, db))
		})
	}
}

func TestReadsRunAgainOnAFreshConnection(t *testing.T) {
	ctx := context.Background()
	db := openWithItems(t, store.Postgres)
	require.NoError(t, db.InTx(ctx, func(tx *sql.Tx) error { return insertItem(ctx, tx, "a", "A", 3) }))
	admin := adminConn(t, db)

	warm := func() {
		// Fill the pool with idle connections, used just now (database/sql
		// pings a connection only when it was idle for over a second). The
		// dead ones of the last round are dropped first.
		db.SetMaxIdleConns(0)
		db.SetMaxIdleConns(10)
		var conns []*sql.Conn
		for range 4 {
			c, err := db.Conn(ctx)
			require.NoError(t, err)
			require.NoError(t, c.PingContext(ctx))
			conns = append(conns, c)
		}
		for _, c := range conns {
			require.NoError(t, c.Close())
		}
	}

	warm()
	require.GreaterOrEqual(t, terminateOthers(t, admin), 4)
	assert.Equal(t, 3, stockOf(t, db, "a"), "QueryRowContext skips the dead connections")

	warm()
	terminateOthers(t, admin)
	require.NoError(t, query(t, ctx, db, "SELECT id FROM items"), "QueryContext skips the dead connections")
}

// A lost connection drops the pool's idle ones: what ended one session
// ended the others, and each dead one drawn would cost an attempt and a
// longer backoff. After every pooled session is terminated, one read
// succeeds after exactly one retry, on a fresh connection.
func TestALostConnectionDropsTheDeadIdleOnes(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	db, _ := outageDB(t, reg) // a pool of four
	admin := adminConn(t, db)
	var conns []*sql.Conn
	for range 3 {
		c, err := db.Conn(ctx)
		require.NoError(t, err)
		require.NoError(t, c.PingContext(ctx)) // used just now: database/sql will not ping it again
		conns = append(conns, c)
	}
	for _, c := range conns {
		require.NoError(t, c.Close())
	}
	require.Equal(t, 3, db.Stats().Idle)
	require.Equal(t, 3, terminateOthers(t, admin))

	before := retriesMetric(t, reg, "lost_connection")
	var one int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT 1").Scan(&one))
	assert.Equal(t, 1.0, retriesMetric(t, reg, "lost_connection")-before,
		"one dead connection drawn, then a fresh one: the other dead ones were dropped")
}

// query runs q through db.QueryContext and closes its rows at once, so the
// connection is back in the pool before the test goes on.
func query(t *testing.T, ctx context.Context, db *store.DB, q string) error {
	t.Helper()
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return err
	}
	defer func() { assert.NoError(t, rows.Close()) }()
	return rows.Err()
}

func TestUnreachableDatabaseIsUnavailable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	began := time.Now()
	_, err := store.Open(ctx, "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2", "order", nil)
	require.Error(t, err)
	assert.ErrorIs(t, err, errkind.Unavailable, "connection refused: %v", err)
	assert.Less(t, time.Since(began), 5*time.Second)
}

func TestStatementTimeoutIsAppliedAndUnavailable(t *testing.T) {
	ctx := context.Background()
	url := postgresServerURL(t)
	pool := config.DBPool{MaxConns: 2, MinConns: 2, StatementTimeout: 150 * time.Millisecond}
	db, err := store.Open(ctx, url, "order", nil, store.WithPool(pool))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })

	assert.Equal(t, 2, db.Stats().OpenConnections, "DB_MIN_CONNS connections are open at start")
	assert.Equal(t, 2, db.Stats().MaxOpenConnections)
	var setting string
	require.NoError(t, db.QueryRowContext(ctx, "SHOW statement_timeout").Scan(&setting))
	assert.Equal(t, "150ms", setting)

	began := time.Now()
	_, err = db.ExecContext(ctx, "SELECT pg_sleep(2)")
	require.Error(t, err)
	assert.Less(t, time.Since(began), time.Second, "cancelled by the server at the statement timeout")
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	assert.Equal(t, "57014", pgErr.Code)
	assert.ErrorIs(t, err, errkind.Unavailable, "rolled back, safe to send again: UNAVAILABLE, not DEADLINE_EXCEEDED")

	// The client's own deadline stays a deadline.
	dctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err = db.ExecContext(dctx, "SELECT pg_sleep(2)")
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorIs(t, err, errkind.Unavailable)
}

func postgresServerURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("POSTGRES_TEST_URL")
	if u == "" {
		u = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL: %v", err)
		}
		t.Skipf("PostgreSQL is unreachable: %v", err)
	}
	_ = c.Close(ctx)
	return u
}

func TestConnectionLost(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Code: "57P01"}, true},
		{&pgconn.PgError{Code: "57P02"}, true},
		{&pgconn.PgError{Code: "57P03"}, true},
		{&pgconn.PgError{Code: "08006"}, true},
		{fmt.Errorf("insert: %w", io.ErrUnexpectedEOF), true},
		{&pgconn.PgError{Code: "23505"}, false},
		{&pgconn.PgError{Code: "40001"}, false},
		{&pgconn.PgError{Code: "57014"}, false},
		{errors.New("syntax"), false},
		{sql.ErrNoRows, false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, store.ConnectionLost(tt.err), "%v", tt.err)
	}
}

// outageProxy forwards TCP to PostgreSQL until down is called: then it
// cuts every open connection and refuses new ones until up, as a database
// restart does.
type outageProxy struct {
	ln       net.Listener
	upstream string
	mu       sync.Mutex
	isDown   bool
	conns    []net.Conn
}

func newOutageProxy(t *testing.T, upstream string) *outageProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &outageProxy{ln: ln, upstream: upstream}
	t.Cleanup(func() { _ = ln.Close(); p.down() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			down := p.isDown
			p.mu.Unlock()
			if down {
				_ = c.Close()
				continue
			}
			u, err := net.Dial("tcp", upstream)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(u, c); _ = u.Close() }()
			go func() { _, _ = io.Copy(c, u); _ = c.Close() }()
		}
	}()
	return p
}

func (p *outageProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.isDown = true
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

func (p *outageProxy) up() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.isDown = false
}

// outageDB is a fresh database with an items table, reached through an
// outageProxy.
func outageDB(t *testing.T, reg prometheus.Registerer) (*store.DB, *outageProxy) {
	t.Helper()
	ctx := context.Background()
	server := postgresServerURL(t)
	admin, err := pgx.Connect(ctx, server)
	require.NoError(t, err)
	name := fmt.Sprintf("slipway_t_outage_%d", time.Now().UnixNano())
	_, err = admin.Exec(ctx, "CREATE DATABASE "+name)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		_ = admin.Close(context.Background())
	})
	u, err := url.Parse(server)
	require.NoError(t, err)
	proxy := newOutageProxy(t, u.Host)
	u.Host, u.Path = proxy.ln.Addr().String(), "/"+name
	db, err := store.Open(ctx, u.String(), "order", reg, store.WithPool(config.DBPool{MaxConns: 4, MinConns: 4}))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	require.NoError(t, db.Migrate(ctx, migrations(map[string]string{"0001_items.sql": schema})))
	return db, proxy
}

// During an outage shorter than the retries (a restart), reads and
// transactions wait for the database and succeed; database/sql alone fails
// at once, with an error classified as an unreachable database.
func TestAnOutageIsRiddenOutByTheRetries(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	db, proxy := outageDB(t, reg)
	outage := func() {
		proxy.down()
		time.AfterFunc(600*time.Millisecond, proxy.up)
	}

	outage()
	var one int
	err := db.DB.QueryRowContext(ctx, "SELECT 1").Scan(&one)
	require.Error(t, err, "database/sql alone does not wait for the database")
	assert.ErrorIs(t, err, errkind.Unavailable, "%v", err)
	var de *errkind.DependencyError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, store.UnavailableRetryAfter, de.After)
	require.Eventually(t, func() bool { return db.PingContext(ctx) == nil }, 5*time.Second, 50*time.Millisecond)

	outage()
	began := time.Now()
	require.NoError(t, db.QueryRowContext(ctx, "SELECT 1").Scan(&one), "the read waits out the outage")
	assert.Greater(t, time.Since(began), 300*time.Millisecond, "it did wait")
	assert.Positive(t, retriesMetric(t, reg, "lost_connection"), "the retries are counted")

	outage()
	require.NoError(t, query(t, ctx, db, "SELECT 1"), "the query waits out the outage")

	outage()
	attempts := 0
	require.NoError(t, db.InTx(ctx, func(tx *sql.Tx) error {
		attempts++
		return insertItem(ctx, tx, "a", "A", 1)
	}), "the transaction waits out the outage")
	assert.Equal(t, 1, countItems(t, db), "and commits once")

	// A write outside a transaction cut off after it was sent is not sent
	// again: it may have been applied. Here it was (the statement outlives
	// the cut, and the server commits it), so a repeat would make stock 2.
	time.AfterFunc(150*time.Millisecond, outage)
	_, err = db.ExecContext(ctx, "UPDATE items SET stock = stock + 1 FROM pg_sleep(0.4) WHERE id = 'a'")
	require.Error(t, err, "the connection was cut while the statement ran")
	assert.ErrorIs(t, err, errkind.Unavailable)
	require.Eventually(t, func() bool { return db.PingContext(ctx) == nil }, 5*time.Second, 50*time.Millisecond)
	assert.Equal(t, 2, stockOf(t, db, "a"), "applied once: the server ran it, and nothing sent it again")

	// An outage longer than the client's deadline ends at the deadline.
	proxy.down()
	t.Cleanup(proxy.up)
	dctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	err = db.InTx(dctx, func(tx *sql.Tx) error { return nil })
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

// A NUL byte, which any client can put in a string, is the client's
// mistake: PostgreSQL cannot store it, and the error says so without the
// driver's words.
func TestTextTheDatabaseCannotStoreIsInvalid(t *testing.T) {
	ctx := context.Background()
	db := openWithItems(t, store.Postgres)
	var n int
	err := db.QueryRowContext(ctx, "SELECT count(*) FROM items WHERE id = $1", "a\x00b").Scan(&n)
	require.Error(t, err)
	assert.ErrorIs(t, err, errkind.Invalid)
	assert.NotErrorIs(t, err, errkind.Unavailable)
	assert.NotContains(t, err.Error(), "SQLSTATE", "the message is the store's, not the driver's")
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr, "the driver's error stays in the chain for the logs")
	assert.Equal(t, "22021", pgErr.Code)
}

// retriesMetric reads slipway_db_retries_total{cause}.
func retriesMetric(t *testing.T, reg *prometheus.Registry, cause string) float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != "slipway_db_retries_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "cause" && l.GetValue() == cause {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no slipway_db_retries_total{cause=%q}", cause)
	return 0
}
