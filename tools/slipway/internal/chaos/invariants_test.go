package chaos

import (
	"context"
	"crypto/rand"
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/slipway-dev/slipway/tools/slipway/internal/report"
	"github.com/slipway-dev/slipway/tools/slipway/internal/scratchdb"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// invariantBackend is a database the invariant tests run on.
type invariantBackend struct {
	dialect string
	pgURL   string // postgres: one database per test; each fixture gets its own schemas in it
}

// invariantDialects are the databases the invariant tests run on: SQLite
// always, PostgreSQL when it answers (always under CI).
func invariantDialects(t *testing.T) []invariantBackend {
	t.Helper()
	server := testPostgres(t)
	if server == "" {
		return []invariantBackend{{dialect: "sqlite"}}
	}
	url, drop, err := scratchdb.Create(t.Context(), server, "slipway_chaos_test")
	require.NoError(t, err)
	t.Cleanup(drop)
	return []invariantBackend{{dialect: "sqlite"}, {dialect: "postgres", pgURL: url}}
}

// testPostgres returns the PostgreSQL server URL tests may create
// databases on, or "" (the test then skips PostgreSQL, except under CI).
func testPostgres(t *testing.T) string {
	t.Helper()
	server := os.Getenv("POSTGRES_TEST_URL")
	if server == "" {
		server = scratchdb.DefaultServerURL
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL at %s: %v", report.RedactURL(server), err)
		}
		t.Logf("PostgreSQL at %s is unreachable, skipping it: %v", report.RedactURL(server), err)
		return ""
	}
	_ = conn.Close(context.Background())
	return server
}

// migratedDB returns a fresh database of dialect with svc's real migrations
// applied, and the database that names it.
func migratedDB(t *testing.T, b invariantBackend, svc string) (*sql.DB, database) {
	t.Helper()
	dialect := b.dialect
	var d database
	switch dialect {
	case "sqlite":
		d = database{Dialect: "sqlite", DSN: filepath.Join(t.TempDir(), svc+".db")}
	case "postgres":
		// A schema per service and fixture: far quicker than a database each.
		schema := "inv_" + strings.ToLower(rand.Text()[:8]) + "_" + svc
		admin, err := sql.Open("pgx", b.pgURL)
		require.NoError(t, err)
		_, err = admin.ExecContext(t.Context(), "CREATE SCHEMA "+schema)
		_ = admin.Close()
		require.NoError(t, err)
		d = database{Dialect: "postgres", DSN: b.pgURL + "&search_path=" + schema}
	}
	var db *sql.DB
	var err error
	if dialect == "sqlite" {
		db, err = sql.Open("sqlite", "file:"+d.DSN)
	} else {
		db, err = sql.Open("pgx", d.DSN)
	}
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	db.SetMaxOpenConns(1) // the PRAGMAs below hold for this one connection
	root, err := workspace.FindRoot(".")
	require.NoError(t, err)
	files, err := filepath.Glob(filepath.Join(root, "services", svc, "internal", "store", "migrations", dialect, "*.sql"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	slices.Sort(files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		_, err = db.ExecContext(t.Context(), string(b))
		require.NoError(t, err, f)
	}
	return db, d
}

// invariantFixture is a small shop that keeps every invariant, in the
// services' real schemas: o1 PLACED, captured and committed, o2 CANCELLED,
// voided and released, o3 FAILED on a decline and released, an orphan
// RESERVED reservation, and their notifications.
type invariantFixture struct {
	dialect                                 string
	order, inventory, notify, payment       *sql.DB
	orderDB, inventoryDB, noteDB, paymentDB database
	baseline                                stockBaseline     // the stock "before the load": the fixture as built
	acked                                   map[string]string // the orders "acknowledged to the load"
}

var fixtureTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newInvariantFixture(t *testing.T, b invariantBackend) *invariantFixture {
	t.Helper()
	f := &invariantFixture{dialect: b.dialect}
	f.order, f.orderDB = migratedDB(t, b, "order")
	f.inventory, f.inventoryDB = migratedDB(t, b, "inventory")
	f.notify, f.noteDB = migratedDB(t, b, "notification")
	f.payment, f.paymentDB = migratedDB(t, b, "payment")
	ts := fixtureTime
	f.exec(t, f.inventory,
		"INSERT INTO products (id, name, price_minor, currency, stock, updated_at) VALUES ('p1', 'One', 100, 'USD', 5, $1), ('p2', 'Two', 200, 'USD', 0, $1)", ts)
	for _, o := range []struct {
		id, key, status, payment string
		total                    int64
	}{{"o1", "k1", "PLACED", "CAPTURED", 200}, {"o2", "k2", "CANCELLED", "VOIDED", 200}, {"o3", "k3", "FAILED", "DECLINED", 100}} {
		f.exec(t, f.order, `INSERT INTO orders (id, user_id, idempotency_key, request_fingerprint, status, currency, total_minor, payment_state, stock_released, created_at, updated_at)
			VALUES ($1, 'u1', $2, 'fp', $3, 'USD', $4, $5, $6, $7, $7)`, o.id, o.key, o.status, o.total, o.payment, o.status == "FAILED", ts)
	}
	f.exec(t, f.order, `INSERT INTO order_items (order_id, product_id, name, quantity, unit_price_minor, line_total_minor)
		VALUES ('o1', 'p1', 'One', 2, 100, 200), ('o2', 'p2', 'Two', 1, 200, 200), ('o3', 'p1', 'One', 1, 100, 100)`)
	f.exec(t, f.inventory, `INSERT INTO reservations (order_id, status, fingerprint, expires_at, created_at, updated_at) VALUES
		('o1', 'COMMITTED', 'fp', NULL, $1, $1), ('o2', 'RELEASED', 'fp', NULL, $1, $1), ('o3', 'RELEASED', 'fp', NULL, $1, $1), ('o9', 'RESERVED', 'fp', $1, $1, $1)`, ts)
	f.exec(t, f.inventory, "INSERT INTO reservation_items (order_id, product_id, quantity) VALUES ('o1', 'p1', 2), ('o2', 'p2', 1), ('o3', 'p1', 1), ('o9', 'p1', 1)")
	f.note(t, "o1", "ORDER_PLACED", "e1")
	f.note(t, "o2", "ORDER_PLACED", "e2")
	f.note(t, "o2", "ORDER_CANCELLED", "e3")
	f.note(t, "o3", "ORDER_FAILED", "e6")
	f.pay(t, "pay1", "o1", "CAPTURED", 200, "r1")
	f.pay(t, "pay2", "o2", "VOIDED", 200, "r2")
	f.pay(t, "pay3", "o3", "DECLINED", 100, "")
	f.providerPayment(t, "r1", "o1", "captured", 200, 200, 0)
	f.providerAnswer(t, "order/o1/authorize", "r1", "authorized")
	f.providerAnswer(t, "order/o1/capture", "r1", "captured")
	f.providerPayment(t, "r2", "o2", "voided", 200, 0, 0)
	f.providerAnswer(t, "order/o2/authorize", "r2", "authorized")
	f.providerAnswer(t, "order/o2/void", "r2", "voided")
	var err error
	f.baseline, err = readStockBaseline(t.Context(), f.inventory)
	require.NoError(t, err)
	f.acked = map[string]string{"o1": "k1", "o2": "k2", "o3": "k3"}
	return f
}

// pay stores a payment of the payment service.
func (f *invariantFixture) pay(t *testing.T, id, orderID, state string, amount int64, ref string) {
	t.Helper()
	f.exec(t, f.payment, `INSERT INTO payments (id, order_id, user_id, currency, amount_minor, state, provider, provider_ref, idempotency_key, created_at, updated_at)
		VALUES ($1, $2, 'u1', 'USD', $3, $4, 'sandbox', $5, $6, $7, $7)`, id, orderID, amount, state, ref, "order/"+orderID+"/authorize/"+id, fixtureTime)
}

// providerPayment stores a payment of the sandbox provider's ledger.
func (f *invariantFixture) providerPayment(t *testing.T, ref, orderID, status string, authorized, captured, refunded int64) {
	t.Helper()
	f.exec(t, f.payment, `INSERT INTO sandbox_payments (ref, order_id, user_id, payment_method, currency, authorized, captured, refunded, status, created_at, updated_at)
		VALUES ($1, $2, 'u1', 'pm_card_visa', 'usd', $3, $4, $5, $6, $7, $7)`, ref, orderID, authorized, captured, refunded, status, fixtureTime)
}

// providerAnswer stores the sandbox's answer under an idempotency key.
func (f *invariantFixture) providerAnswer(t *testing.T, key, ref, status string) {
	t.Helper()
	f.exec(t, f.payment, `INSERT INTO sandbox_idempotency (idem_key, fingerprint, ref, status, created_at) VALUES ($1, 'fp', $2, $3, $4)`,
		key, ref, status, fixtureTime)
}

func (f *invariantFixture) exec(t *testing.T, db *sql.DB, query string, args ...any) {
	t.Helper()
	_, err := db.ExecContext(t.Context(), query, args...)
	require.NoError(t, err, query)
}

var noteIDs = map[string]string{
	"e1": "0190a000-0000-7000-8000-000000000001", "e2": "0190a000-0000-7000-8000-000000000002",
	"e3": "0190a000-0000-7000-8000-000000000003", "e4": "0190a000-0000-7000-8000-000000000004",
	"e5": "0190a000-0000-7000-8000-000000000005", "e6": "0190a000-0000-7000-8000-000000000006",
}

func (f *invariantFixture) note(t *testing.T, orderID, kind, eventID string) {
	t.Helper()
	f.exec(t, f.notify, `INSERT INTO notifications (id, user_id, order_id, kind, title, body, event_id, created_at)
		VALUES ($1, 'u1', $2, $3, 't', 'b', $4, $5)`, noteIDs[eventID], orderID, kind, eventID, fixtureTime)
}

// dropCheck lets a test write a row the schema's constraint would refuse,
// to show that the invariant itself catches it.
func (f *invariantFixture) dropStockCheck(t *testing.T) {
	t.Helper()
	if f.dialect == "sqlite" {
		f.exec(t, f.inventory, "PRAGMA ignore_check_constraints = ON")
		return
	}
	f.exec(t, f.inventory, "ALTER TABLE products DROP CONSTRAINT products_stock_not_negative")
}

func (f *invariantFixture) dropIdempotencyUnique(t *testing.T) {
	t.Helper()
	if f.dialect == "postgres" {
		f.exec(t, f.order, "ALTER TABLE orders DROP CONSTRAINT orders_user_idempotency_key")
		return
	}
	// SQLite cannot drop a table constraint: copy the table without it.
	f.exec(t, f.order, "CREATE TABLE orders_copy AS SELECT * FROM orders")
	f.exec(t, f.order, "DROP TABLE orders")
	f.exec(t, f.order, "ALTER TABLE orders_copy RENAME TO orders")
}

// dropPaymentUnique lets a test store two payments for one order.
func (f *invariantFixture) dropPaymentUnique(t *testing.T) {
	t.Helper()
	if f.dialect == "postgres" {
		f.exec(t, f.payment, "ALTER TABLE payments DROP CONSTRAINT payments_order_id_key")
		return
	}
	f.exec(t, f.payment, "CREATE TABLE payments_copy AS SELECT * FROM payments")
	f.exec(t, f.payment, "DROP TABLE payments")
	f.exec(t, f.payment, "ALTER TABLE payments_copy RENAME TO payments")
}

func (f *invariantFixture) check(t *testing.T) map[string]invariant {
	t.Helper()
	stores, closeStores, err := openStores(map[string]database{
		"order": f.orderDB, "inventory": f.inventoryDB, "notification": f.noteDB, "payment": f.paymentDB,
	})
	require.NoError(t, err)
	defer closeStores()
	invs, err := checkInvariants(t.Context(), stores, runFacts{Stock: &f.baseline, Acked: f.acked})
	require.NoError(t, err)
	byName := map[string]invariant{}
	for _, inv := range invs {
		byName[inv.Name] = inv
	}
	require.Len(t, byName, 10)
	return byName
}

func TestInvariantsPassOnAConsistentShop(t *testing.T) {
	for _, b := range invariantDialects(t) {
		t.Run(b.dialect, func(t *testing.T) {
			invs := newInvariantFixture(t, b).check(t)
			for name, inv := range invs {
				assert.True(t, inv.Passed, "%s: %v", name, inv.Examples)
				assert.Zero(t, inv.Violations, name)
			}
			assert.Equal(t, int64(2), invs[invStock].Checked, "both products checked")
			assert.Equal(t, int64(3), invs[invReservations].Checked, "every order checked")
			assert.Contains(t, invs[invReservations].Note, "1 reservation(s) without an order are still RESERVED")
			assert.Equal(t, int64(3), invs[invAcknowledged].Checked, "every acknowledged order checked")
			assert.Equal(t, int64(3), invs[invCapturedOnce].Checked, "every payment checked")
			assert.Equal(t, int64(1), invs[invCaptured].Checked, "the captured order checked")
			assert.Equal(t, int64(2), invs[invGivenBack].Checked, "the failed and the cancelled order checked")
			assert.Equal(t, int64(3), invs[invAmount].Checked, "every payment checked")
			assert.Equal(t, int64(2), invs[invConservation].Checked, "both products checked")
		})
	}
}

// A restock recorded in the ledger, an order that reserves and one that
// releases move units between stock and reservations: all conserved.
func TestConservationFollowsTheLedger(t *testing.T) {
	for _, b := range invariantDialects(t) {
		t.Run(b.dialect, func(t *testing.T) {
			f := newInvariantFixture(t, b)
			f.exec(t, f.inventory, "UPDATE products SET stock = stock + 7 WHERE id = 'p2'")
			f.exec(t, f.inventory, "INSERT INTO stock_adjustments (product_id, delta, reason, actor, created_at) VALUES ('p2', 7, 'restock', 'admin', $1)", fixtureTime)
			f.exec(t, f.inventory, "UPDATE products SET stock = stock - 1 WHERE id = 'p2'")
			f.exec(t, f.inventory, "INSERT INTO reservations (order_id, status, fingerprint, expires_at, created_at, updated_at) VALUES ('o8', 'RESERVED', 'fp', $1, $1, $1)", fixtureTime)
			f.exec(t, f.inventory, "INSERT INTO reservation_items (order_id, product_id, quantity) VALUES ('o8', 'p2', 1)")
			f.exec(t, f.inventory, "UPDATE reservations SET status = 'RELEASED' WHERE order_id = 'o9'")
			f.exec(t, f.inventory, "UPDATE products SET stock = stock + 1 WHERE id = 'p1'")
			inv := f.check(t)[invConservation]
			assert.True(t, inv.Passed, "%v", inv.Examples)
			assert.Contains(t, inv.Note, "+7 unit(s) adjusted")
		})
	}
}

func TestInvariantsFailOnBadData(t *testing.T) {
	tests := []struct {
		name    string
		breaks  string
		mutate  func(t *testing.T, f *invariantFixture)
		example string
		// also are the invariants the same bad row breaks too: units moved
		// without the matching reservation change are not conserved.
		also []string
	}{
		{"negative stock", invStock, func(t *testing.T, f *invariantFixture) {
			f.dropStockCheck(t)
			f.exec(t, f.inventory, "UPDATE products SET stock = -1 WHERE id = 'p2'")
		}, "product p2 has stock -1", []string{invConservation}},
		{"placed order without reservation", invReservations, func(t *testing.T, f *invariantFixture) {
			f.exec(t, f.inventory, "DELETE FROM reservation_items WHERE order_id = 'o1'")
			f.exec(t, f.inventory, "DELETE FROM reservations WHERE order_id = 'o1'")
		}, "order o1 is PLACED but has no reservation", []string{invConservation, invCaptured}},
		{"placed order reserving other quantities", invReservations, func(t *testing.T, f *invariantFixture) {
			f.exec(t, f.inventory, "UPDATE reservation_items SET quantity = 3 WHERE order_id = 'o1'")
		}, "order o1 is PLACED with items {p1×2} but reserves {p1×3}", []string{invConservation}},
		{"placed order whose reservation was released", invReservations, func(t *testing.T, f *invariantFixture) {
			f.exec(t, f.inventory, "UPDATE reservations SET status = 'RELEASED' WHERE order_id = 'o1'")
		}, "order o1 is PLACED but its reservation is RELEASED", []string{invConservation, invCaptured}},
		{"cancelled order still holding stock", invGivenBack, func(t *testing.T, f *invariantFixture) {
			f.exec(t, f.inventory, "UPDATE reservations SET status = 'RESERVED', expires_at = $1 WHERE order_id = 'o2'", fixtureTime)
		}, "order o2 is CANCELLED but its reservation is still RESERVED", []string{invConservation}},
		{"failed order still holding stock", invGivenBack, func(t *testing.T, f *invariantFixture) {
			f.exec(t, f.inventory, "UPDATE reservations SET status = 'RESERVED', expires_at = $1 WHERE order_id = 'o3'", fixtureTime)
		}, "order o3 is FAILED but its reservation is still RESERVED", []string{invConservation}},
		{"cancelled order whose authorization the provider still holds", invGivenBack, func(t *testing.T, f *invariantFixture) {
			f.exec(t, f.payment, "UPDATE sandbox_payments SET status = 'authorized' WHERE ref = 'r2'")
		}, "order o2 is CANCELLED but the provider's payment r2 is authorized, 0 captured and 0 refunded", nil},
		{"failed order whose payment was never voided", invGivenBack, func(t *testing.T, f *invariantFixture) {
			f.exec(t, f.payment, "UPDATE payments SET state = 'AUTHORIZED' WHERE order_id = 'o3'")
		}, "order o3 is FAILED but its payment pay3 is AUTHORIZED in the payment service", nil},
		{"failed order that says it is authorized", invGivenBack, func(t *testing.T, f *invariantFixture) {
			f.exec(t, f.order, "UPDATE orders SET payment_state = 'AUTHORIZED' WHERE id = 'o3'")
		}, "order o3 is FAILED but its payment state is AUTHORIZED", nil},
		{"two payments for one order", invCapturedOnce, func(t *testing.T, f *invariantFixture) {
			f.dropPaymentUnique(t)
			f.pay(t, "pay4", "o1", "CAPTURED", 200, "r1")
		}, "order o1 has 2 payments in the payment service", nil},
		{"two captures of one provider payment", invCapturedOnce, func(t *testing.T, f *invariantFixture) {
			f.providerAnswer(t, "order/o1/capture-again", "r1", "captured")
		}, "order o1: the provider's payment r1 was captured 2 times", nil},
		{"two provider payments charged for one order", invCapturedOnce, func(t *testing.T, f *invariantFixture) {
			f.providerPayment(t, "r9", "o1", "captured", 200, 200, 0)
			f.providerAnswer(t, "order/o1/capture-r9", "r9", "captured")
		}, "order o1 was charged by 2 payments at the provider", nil},
		{"captured order whose reservation was not committed", invCaptured, func(t *testing.T, f *invariantFixture) {
			f.exec(t, f.inventory, "UPDATE reservations SET status = 'RESERVED', expires_at = $1 WHERE order_id = 'o1'", fixtureTime)
		}, "order o1 is captured but its reservation is RESERVED, not COMMITTED", nil},
		{"failed order whose payment was captured", invCaptured, func(t *testing.T, f *invariantFixture) {
			f.exec(t, f.payment, "UPDATE payments SET state = 'CAPTURED' WHERE order_id = 'o3'")
		}, "order o3 is FAILED but its payment is captured", []string{invGivenBack}},
		{"payment for another amount than the order's total", invAmount, func(t *testing.T, f *invariantFixture) {
			f.exec(t, f.payment, "UPDATE payments SET amount_minor = 250 WHERE order_id = 'o1'")
		}, "order o1 totals 200 USD but its payment pay1 is for 250 USD", nil},
		{"provider authorized another amount", invAmount, func(t *testing.T, f *invariantFixture) {
			f.exec(t, f.payment, "UPDATE sandbox_payments SET authorized = 300 WHERE ref = 'r2'")
		}, "order o2 totals 200 USD but the provider authorized 300 usd (payment r2)", nil},
		{"payment for an order that does not exist", invAmount, func(t *testing.T, f *invariantFixture) {
			f.pay(t, "pay7", "o7", "VOIDED", 100, "")
		}, "payment pay7 is for order o7, which does not exist", nil},
		{"failed order without its notification", invNotifications, func(t *testing.T, f *invariantFixture) {
			f.exec(t, f.notify, "DELETE FROM notifications WHERE order_id = 'o3'")
		}, "order o3 (FAILED) has 0 ORDER_FAILED notification(s), want 1", nil},
		{"committed reservation without an order", invReservations, func(t *testing.T, f *invariantFixture) {
			f.exec(t, f.inventory, "UPDATE reservations SET status = 'COMMITTED', expires_at = NULL WHERE order_id = 'o9'")
		}, "reservation o9 is COMMITTED but no such order exists", nil},
		{"missing notification", invNotifications, func(t *testing.T, f *invariantFixture) {
			f.exec(t, f.notify, "DELETE FROM notifications WHERE order_id = 'o1'")
		}, "order o1 (PLACED) has 0 ORDER_PLACED notification(s), want 1", nil},
		{"duplicated notification", invNotifications, func(t *testing.T, f *invariantFixture) {
			f.note(t, "o1", "ORDER_PLACED", "e4")
		}, "order o1 (PLACED) has 2 ORDER_PLACED notification(s), want 1", nil},
		{"notification for an unknown order", invNotifications, func(t *testing.T, f *invariantFixture) {
			f.note(t, "o7", "ORDER_PLACED", "e5")
		}, "notification for order o7, which does not exist", nil},
		{"two orders for one idempotency key", invIdempotency, func(t *testing.T, f *invariantFixture) {
			f.dropIdempotencyUnique(t)
			f.exec(t, f.order, `INSERT INTO orders (id, user_id, idempotency_key, request_fingerprint, status, currency, total_minor, payment_state, created_at, updated_at)
				VALUES ('o4', 'u1', 'k1', 'fp', 'CANCELLED', 'USD', 0, 'NONE', $1, $1)`, fixtureTime)
			f.note(t, "o4", "ORDER_PLACED", "e4")
			f.note(t, "o4", "ORDER_CANCELLED", "e5")
		}, `user u1 has 2 orders with idempotency key "k1"`, nil},
		{"acknowledged order lost", invAcknowledged, func(t *testing.T, f *invariantFixture) {
			f.acked["o6"] = "k6"
		}, "order o6 (idempotency key k6) was acknowledged to the client but is not in the order database", nil},
		{"stock from nowhere", invConservation, func(t *testing.T, f *invariantFixture) {
			f.exec(t, f.inventory, "UPDATE products SET stock = stock + 1 WHERE id = 'p1'")
		}, "product p1: stock plus held units is 9, want 8 (8 before the load, +0 adjusted since)", nil},
		{"released reservation whose units never came back", invConservation, func(t *testing.T, f *invariantFixture) {
			f.exec(t, f.inventory, "UPDATE reservations SET status = 'RELEASED' WHERE order_id = 'o9'")
		}, "product p1: stock plus held units is 7, want 8 (8 before the load, +0 adjusted since)", nil},
		{"adjustment in the ledger but not in stock", invConservation, func(t *testing.T, f *invariantFixture) {
			f.exec(t, f.inventory, "INSERT INTO stock_adjustments (product_id, delta, reason, actor, created_at) VALUES ('p2', 3, 'restock', 'admin', $1)", fixtureTime)
		}, "product p2: stock plus held units is 0, want 3 (0 before the load, +3 adjusted since)", nil},
	}
	for _, b := range invariantDialects(t) {
		for _, tt := range tests {
			t.Run(b.dialect+"/"+tt.name, func(t *testing.T) {
				f := newInvariantFixture(t, b)
				tt.mutate(t, f)
				invs := f.check(t)
				for name, inv := range invs {
					if name == tt.breaks {
						assert.False(t, inv.Passed, "%s fails", name)
						assert.Equal(t, int64(1), inv.Violations, name)
						assert.Contains(t, inv.Examples, tt.example)
						continue
					}
					if slices.Contains(tt.also, name) {
						assert.False(t, inv.Passed, "%s fails too", name)
						continue
					}
					assert.True(t, inv.Passed, "only %s fails, not %s: %v", tt.breaks, name, inv.Examples)
				}
			})
		}
	}
}

func TestInvariantsReportUnreadableDatabase(t *testing.T) {
	dir := t.TempDir()
	empty := database{Dialect: "sqlite", DSN: filepath.Join(dir, "empty.db")}
	require.NoError(t, os.WriteFile(empty.DSN, nil, 0o600))
	stores, closeStores, err := openStores(map[string]database{"order": empty, "inventory": empty, "notification": empty, "payment": empty})
	require.NoError(t, err)
	defer closeStores()
	_, err = checkInvariants(t.Context(), stores, runFacts{})
	require.Error(t, err, "a database without the services' tables is an error, not a pass")
	assert.Contains(t, err.Error(), "no such table")
}

// TestUnfinishedSagas: settling waits for exactly the orders whose saga has
// a step left.
func TestUnfinishedSagas(t *testing.T) {
	tests := []struct {
		name   string
		mutate string
		want   int64
	}{
		{"every saga finished", "", 0},
		{"placed but not captured", "UPDATE orders SET payment_state = 'AUTHORIZED' WHERE id = 'o1'", 1},
		{"a cancel begun", "UPDATE orders SET cancel_requested = TRUE WHERE id = 'o1'", 1},
		{"failed with its stock held", "UPDATE orders SET stock_released = FALSE WHERE id = 'o3'", 1},
		{"pending", "UPDATE orders SET status = 'PENDING', payment_state = 'NONE' WHERE id = 'o3'", 1},
	}
	for _, b := range invariantDialects(t) {
		for _, tt := range tests {
			t.Run(b.dialect+"/"+tt.name, func(t *testing.T) {
				f := newInvariantFixture(t, b)
				if tt.mutate != "" {
					f.exec(t, f.order, tt.mutate)
				}
				n, err := unfinishedSagas(t.Context(), f.order)
				require.NoError(t, err)
				assert.Equal(t, tt.want, n)
			})
		}
	}
}
