package chaos

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite"
)

// The invariants every experiment is checked against, straight in the
// services' databases after the run.
const (
	invStock         = "no stock below zero"
	invReservations  = "reservations match orders"
	invNotifications = "one notification per order event"
	invIdempotency   = "one order per idempotency key"
	invAcknowledged  = "every acknowledged order exists"
	invConservation  = "stock is conserved"
	invCapturedOnce  = "never captured twice"
	invCaptured      = "a captured order has its stock committed"
	invGivenBack     = "failed and cancelled orders hold nothing"
	invAmount        = "the payment amount is the order total"
)

// invariant is the outcome of one invariant.
type invariant struct {
	Name       string   `json:"name"`
	Passed     bool     `json:"passed"`
	Checked    int64    `json:"checked"`    // rows checked (products or orders)
	Violations int64    `json:"violations"` // rows that break it
	Examples   []string `json:"examples,omitempty"`
	Note       string   `json:"note,omitempty"`
}

// maxExamples is how many violations an invariant names.
const maxExamples = 5

func (i *invariant) violate(format string, args ...any) {
	i.Violations++
	if len(i.Examples) < maxExamples {
		i.Examples = append(i.Examples, fmt.Sprintf(format, args...))
	}
}

func (i *invariant) settle() invariant {
	i.Passed = i.Violations == 0
	return *i
}

// stores are the databases the invariants read.
type stores struct {
	Order, Inventory, Notification, Payment *sql.DB
}

// openDB opens a service's database for reading.
func openDB(d database) (*sql.DB, error) {
	switch d.Dialect {
	case "sqlite":
		return sql.Open("sqlite", "file:"+d.DSN+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	case "postgres":
		return sql.Open("pgx", d.DSN)
	}
	return nil, fmt.Errorf("unknown dialect %q", d.Dialect)
}

// openStores opens the order, inventory, notification and payment databases.
func openStores(dbs map[string]database) (stores, func(), error) {
	var s stores
	var opened []*sql.DB
	closeAll := func() {
		for _, db := range opened {
			_ = db.Close()
		}
	}
	for _, t := range []struct {
		svc string
		db  **sql.DB
	}{{"order", &s.Order}, {"inventory", &s.Inventory}, {"notification", &s.Notification}, {"payment", &s.Payment}} {
		d, ok := dbs[t.svc]
		if !ok {
			closeAll()
			return s, nil, fmt.Errorf("no database for %s", t.svc)
		}
		db, err := openDB(d)
		if err != nil {
			closeAll()
			return s, nil, fmt.Errorf("open the %s database: %w", t.svc, err)
		}
		opened = append(opened, db)
		*t.db = db
	}
	return s, closeAll, nil
}

// runFacts are what the run knew before the invariants: the stock
// before the load and the orders the load saw acknowledged.
type runFacts struct {
	Stock *stockBaseline    // nil: conservation is not checked
	Acked map[string]string // order id -> idempotency key; nil: not checked
}

// checkInvariants checks every invariant. An error means a database
// could not be read, not that an invariant failed.
func checkInvariants(ctx context.Context, s stores, facts runFacts) ([]invariant, error) {
	invs, err := checkStoreInvariants(ctx, s)
	if err != nil {
		return nil, err
	}
	if facts.Acked != nil {
		orders, err := readOrders(ctx, s.Order)
		if err != nil {
			return nil, err
		}
		invs = append(invs, checkAcknowledged(orders, facts.Acked))
	}
	if facts.Stock != nil {
		inv, err := checkConservation(ctx, s.Inventory, *facts.Stock)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", invConservation, err)
		}
		invs = append(invs, inv)
	}
	return invs, nil
}

// checkAcknowledged: every order a CreateOrder answered OK for is in the
// order database. A crash or a restart must lose no acknowledged write.
func checkAcknowledged(orders map[string]*order, acked map[string]string) invariant {
	inv := invariant{Name: invAcknowledged, Checked: int64(len(acked))}
	for _, id := range slices.Sorted(maps.Keys(acked)) {
		if _, ok := orders[id]; !ok {
			inv.violate("order %s (idempotency key %s) was acknowledged to the client but is not in the order database", id, acked[id])
		}
	}
	return inv.settle()
}

// stockBaseline is, per product, its stock plus the units held by
// RESERVED or COMMITTED reservations, and the last stock adjustment then.
type stockBaseline struct {
	Units          map[string]int64
	LastAdjustment int64
}

// readStockBaseline reads the stock and held units of every product, and
// the id of the last row of inventory's adjustment ledger.
func readStockBaseline(ctx context.Context, db *sql.DB) (stockBaseline, error) {
	b := stockBaseline{Units: map[string]int64{}}
	if err := db.QueryRowContext(ctx, "SELECT coalesce(max(id), 0) FROM stock_adjustments").Scan(&b.LastAdjustment); err != nil {
		return b, fmt.Errorf("read the stock adjustments: %w", err)
	}
	add := func(query string) error {
		rows, err := db.QueryContext(ctx, query)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var n int64
			if err := rows.Scan(&id, &n); err != nil {
				return err
			}
			b.Units[id] += n
		}
		return rows.Err()
	}
	if err := add("SELECT id, stock FROM products"); err != nil {
		return b, fmt.Errorf("read the stock: %w", err)
	}
	if err := add(`SELECT ri.product_id, sum(ri.quantity) FROM reservations r
		JOIN reservation_items ri ON ri.order_id = r.order_id
		WHERE r.status IN ('RESERVED', 'COMMITTED') GROUP BY ri.product_id`); err != nil {
		return b, fmt.Errorf("read the reservations: %w", err)
	}
	return b, nil
}

// checkConservation: no unit appears or vanishes. For every product, its
// stock plus the units RESERVED or COMMITTED reservations hold equals the
// same sum before the load plus every stock adjustment since (inventory
// writes the adjustment ledger in the transaction that changes the stock).
// A reservation takes units from stock, a release puts them back, a commit
// keeps them sold.
func checkConservation(ctx context.Context, db *sql.DB, before stockBaseline) (invariant, error) {
	inv := invariant{Name: invConservation}
	now, err := readStockBaseline(ctx, db)
	if err != nil {
		return inv, err
	}
	adjusted := map[string]int64{}
	rows, err := db.QueryContext(ctx, "SELECT product_id, sum(delta) FROM stock_adjustments WHERE id > $1 GROUP BY product_id", before.LastAdjustment)
	if err != nil {
		return inv, fmt.Errorf("read the stock adjustments: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var d int64
		if err := rows.Scan(&id, &d); err != nil {
			return inv, err
		}
		adjusted[id] = d
	}
	if err := rows.Err(); err != nil {
		return inv, err
	}
	ids := map[string]bool{}
	for _, m := range []map[string]int64{before.Units, now.Units, adjusted} {
		for id := range m {
			ids[id] = true
		}
	}
	var restocked int64
	for _, id := range slices.Sorted(maps.Keys(ids)) {
		inv.Checked++
		restocked += adjusted[id]
		if want := before.Units[id] + adjusted[id]; now.Units[id] != want {
			inv.violate("product %s: stock plus held units is %d, want %d (%d before the load, %+d adjusted since)", id, now.Units[id], want, before.Units[id], adjusted[id])
		}
	}
	inv.Note = fmt.Sprintf("%+d unit(s) adjusted during the run (the load's restock)", restocked)
	return inv.settle(), nil
}

// checkStoreInvariants checks the invariants that need nothing but the
// databases.
func checkStoreInvariants(ctx context.Context, s stores) ([]invariant, error) {
	stock, err := checkStock(ctx, s.Inventory)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", invStock, err)
	}
	orders, err := readOrders(ctx, s.Order)
	if err != nil {
		return nil, err
	}
	res, err := checkReservations(ctx, s.Inventory, orders)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", invReservations, err)
	}
	notes, err := checkNotifications(ctx, s.Notification, orders)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", invNotifications, err)
	}
	idem, err := checkIdempotency(ctx, s.Order, int64(len(orders)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", invIdempotency, err)
	}
	pay, err := checkPaymentInvariants(ctx, s, orders)
	if err != nil {
		return nil, err
	}
	return append([]invariant{stock, res, notes, idem}, pay...), nil
}

// checkStock: no product has negative stock (the schema's CHECK backs this
// up; the invariant still looks, so a dropped constraint would show).
func checkStock(ctx context.Context, db *sql.DB) (invariant, error) {
	inv := invariant{Name: invStock}
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM products").Scan(&inv.Checked); err != nil {
		return inv, err
	}
	rows, err := db.QueryContext(ctx, "SELECT id, stock FROM products WHERE stock < 0 ORDER BY id")
	if err != nil {
		return inv, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var stock int64
		if err := rows.Scan(&id, &stock); err != nil {
			return inv, err
		}
		inv.violate("product %s has stock %d", id, stock)
	}
	return inv.settle(), rows.Err()
}

// order is an order (or a reservation) as the invariants see it.
type order struct {
	ID, Status string
	Items      map[string]int64 // product id -> quantity
	// The order's total and what it says of its payment (orders only).
	Currency     string
	TotalMinor   int64
	PaymentState string
}

func readOrders(ctx context.Context, db *sql.DB) (map[string]*order, error) {
	rows, err := db.QueryContext(ctx, `SELECT o.id, o.status, o.currency, o.total_minor, o.payment_state, i.product_id, i.quantity
		FROM orders o LEFT JOIN order_items i ON i.order_id = o.id`)
	if err != nil {
		return nil, fmt.Errorf("read orders: %w", err)
	}
	defer rows.Close()
	orders := map[string]*order{}
	for rows.Next() {
		var id, status, currency, paymentState string
		var total int64
		var product sql.NullString
		var qty sql.NullInt64
		if err := rows.Scan(&id, &status, &currency, &total, &paymentState, &product, &qty); err != nil {
			return nil, fmt.Errorf("read orders: %w", err)
		}
		o := orders[id]
		if o == nil {
			o = &order{ID: id, Status: status, Items: map[string]int64{}, Currency: currency, TotalMinor: total, PaymentState: paymentState}
			orders[id] = o
		}
		if product.Valid {
			o.Items[product.String] = qty.Int64
		}
	}
	return orders, rows.Err()
}

// readReservations reads inventory's reservations with their items, by
// order id.
func readReservations(ctx context.Context, db *sql.DB) (map[string]*order, error) {
	rows, err := db.QueryContext(ctx, `SELECT r.order_id, r.status, ri.product_id, ri.quantity
		FROM reservations r LEFT JOIN reservation_items ri ON ri.order_id = r.order_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	res := map[string]*order{}
	for rows.Next() {
		var id, status string
		var product sql.NullString
		var qty sql.NullInt64
		if err := rows.Scan(&id, &status, &product, &qty); err != nil {
			return nil, err
		}
		r := res[id]
		if r == nil {
			r = &order{ID: id, Status: status, Items: map[string]int64{}}
			res[id] = r
		}
		if product.Valid {
			r.Items[product.String] = qty.Int64
		}
	}
	return res, rows.Err()
}

// checkReservations: every PLACED order holds a reservation (RESERVED, or
// COMMITTED once inventory consumed OrderPlaced) of exactly its items, and
// no COMMITTED reservation lacks its order. What a FAILED or CANCELLED
// order must have given back is invGivenBack's; a PENDING order may hold
// its reservation or not yet. A RESERVED reservation without an order is
// not a violation: order's create failed after Reserve and its
// compensation did not get through, and the reservation's expiry
// (RESERVATION_TTL) releases it. It is counted in the note.
func checkReservations(ctx context.Context, db *sql.DB, orders map[string]*order) (invariant, error) {
	inv := invariant{Name: invReservations, Checked: int64(len(orders))}
	res, err := readReservations(ctx, db)
	if err != nil {
		return inv, err
	}

	for _, id := range slices.Sorted(maps.Keys(orders)) {
		o, r := orders[id], res[id]
		switch o.Status {
		case "PLACED":
			switch {
			case r == nil:
				inv.violate("order %s is PLACED but has no reservation", id)
			case r.Status != "RESERVED" && r.Status != "COMMITTED":
				inv.violate("order %s is PLACED but its reservation is %s", id, r.Status)
			case !maps.Equal(o.Items, r.Items):
				inv.violate("order %s is PLACED with items %s but reserves %s", id, items(o.Items), items(r.Items))
			}
		case "PENDING", "FAILED", "CANCELLED":
		default:
			inv.violate("order %s has unknown status %q", id, o.Status)
		}
	}
	orphans := 0
	for _, id := range slices.Sorted(maps.Keys(res)) {
		if _, ok := orders[id]; ok {
			continue
		}
		switch res[id].Status {
		case "COMMITTED":
			inv.violate("reservation %s is COMMITTED but no such order exists", id)
		case "RESERVED":
			orphans++
		}
	}
	if orphans > 0 {
		inv.Note = fmt.Sprintf("%d reservation(s) without an order are still RESERVED: their expiry (RESERVATION_TTL) releases them", orphans)
	}
	return inv.settle(), nil
}

func items(items map[string]int64) string {
	if len(items) == 0 {
		return "{}"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(items)) {
		parts = append(parts, fmt.Sprintf("%s×%d", k, items[k]))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// checkNotifications: every PLACED or CANCELLED order has exactly one
// ORDER_PLACED notification, a CANCELLED one also exactly one
// ORDER_CANCELLED; a FAILED order (never placed) exactly one ORDER_FAILED
// and no other; a PENDING one none yet; and no notification names an order
// that does not exist.
func checkNotifications(ctx context.Context, db *sql.DB, orders map[string]*order) (invariant, error) {
	inv := invariant{Name: invNotifications, Checked: int64(len(orders))}
	rows, err := db.QueryContext(ctx, "SELECT order_id, kind, count(*) FROM notifications GROUP BY order_id, kind")
	if err != nil {
		return inv, err
	}
	defer rows.Close()
	counts := map[string]map[string]int64{}
	for rows.Next() {
		var id, kind string
		var n int64
		if err := rows.Scan(&id, &kind, &n); err != nil {
			return inv, err
		}
		if counts[id] == nil {
			counts[id] = map[string]int64{}
		}
		counts[id][kind] = n
	}
	if err := rows.Err(); err != nil {
		return inv, err
	}
	missing, duplicated := 0, 0
	for _, id := range slices.Sorted(maps.Keys(orders)) {
		o, c := orders[id], counts[id]
		want := map[string]int64{}
		switch o.Status {
		case "PLACED":
			want["ORDER_PLACED"] = 1
		case "CANCELLED":
			want["ORDER_PLACED"], want["ORDER_CANCELLED"] = 1, 1
		case "FAILED":
			want["ORDER_FAILED"] = 1
		}
		for _, kind := range []string{"ORDER_PLACED", "ORDER_CANCELLED", "ORDER_FAILED"} {
			got := c[kind]
			if got == want[kind] {
				continue
			}
			if got < want[kind] {
				missing++
			} else {
				duplicated++
			}
			inv.violate("order %s (%s) has %d %s notification(s), want %d", id, o.Status, got, kind, want[kind])
		}
	}
	for _, id := range slices.Sorted(maps.Keys(counts)) {
		if _, ok := orders[id]; !ok {
			inv.violate("notification for order %s, which does not exist", id)
		}
	}
	if missing+duplicated > 0 {
		inv.Note = fmt.Sprintf("%d missing, %d duplicated", missing, duplicated)
	}
	return inv.settle(), nil
}

// checkIdempotency: no (user, idempotency key) has two orders. The schema's
// UNIQUE constraint backs this up; the invariant still looks.
func checkIdempotency(ctx context.Context, db *sql.DB, orders int64) (invariant, error) {
	inv := invariant{Name: invIdempotency, Checked: orders}
	rows, err := db.QueryContext(ctx, `SELECT user_id, idempotency_key, count(*) FROM orders
		GROUP BY user_id, idempotency_key HAVING count(*) > 1`)
	if err != nil {
		return inv, err
	}
	defer rows.Close()
	type dup struct {
		user, key string
		n         int64
	}
	var dups []dup
	for rows.Next() {
		var d dup
		if err := rows.Scan(&d.user, &d.key, &d.n); err != nil {
			return inv, err
		}
		dups = append(dups, d)
	}
	slices.SortFunc(dups, func(a, b dup) int { return cmp.Or(cmp.Compare(a.user, b.user), cmp.Compare(a.key, b.key)) })
	for _, d := range dups {
		inv.violate("user %s has %d orders with idempotency key %q", d.user, d.n, d.key)
	}
	return inv.settle(), rows.Err()
}
