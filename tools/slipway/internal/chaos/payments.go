package chaos

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// payment is a row of the payment service's payments table.
type payment struct {
	ID, OrderID, State, Currency string
	AmountMinor                  int64
}

// providerPayment is a payment in the sandbox provider's ledger (in the
// payment service's database): what the provider holds or took.
type providerPayment struct {
	Ref, OrderID, Status, Currency string
	Authorized, Captured, Refunded int64
	// Captures is how many answers the provider stored with status
	// captured under distinct idempotency keys for this payment: each is
	// one capture that took effect (a replay answers the stored row).
	Captures int64
}

// paymentFacts are the payment service's rows and the provider's, by order.
type paymentFacts struct {
	Payments map[string][]payment         // order id -> its payments (at most one, UNIQUE)
	Provider map[string][]providerPayment // order id -> the provider's payments
}

func readPaymentFacts(ctx context.Context, db *sql.DB) (paymentFacts, error) {
	f := paymentFacts{Payments: map[string][]payment{}, Provider: map[string][]providerPayment{}}
	rows, err := db.QueryContext(ctx, "SELECT id, order_id, state, currency, amount_minor FROM payments")
	if err != nil {
		return f, fmt.Errorf("read payments: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var p payment
		if err := rows.Scan(&p.ID, &p.OrderID, &p.State, &p.Currency, &p.AmountMinor); err != nil {
			return f, fmt.Errorf("read payments: %w", err)
		}
		f.Payments[p.OrderID] = append(f.Payments[p.OrderID], p)
	}
	if err := rows.Err(); err != nil {
		return f, fmt.Errorf("read payments: %w", err)
	}
	rows, err = db.QueryContext(ctx, `SELECT p.ref, p.order_id, p.status, p.currency, p.authorized, p.captured, p.refunded,
		(SELECT count(*) FROM sandbox_idempotency k WHERE k.ref = p.ref AND k.status = 'captured')
		FROM sandbox_payments p`)
	if err != nil {
		return f, fmt.Errorf("read the sandbox provider's ledger: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var p providerPayment
		if err := rows.Scan(&p.Ref, &p.OrderID, &p.Status, &p.Currency, &p.Authorized, &p.Captured, &p.Refunded, &p.Captures); err != nil {
			return f, fmt.Errorf("read the sandbox provider's ledger: %w", err)
		}
		f.Provider[p.OrderID] = append(f.Provider[p.OrderID], p)
	}
	return f, rows.Err()
}

// checkPaymentInvariants checks the order saga's invariants across the
// order, inventory and payment databases.
func checkPaymentInvariants(ctx context.Context, s stores, orders map[string]*order) ([]invariant, error) {
	facts, err := readPaymentFacts(ctx, s.Payment)
	if err != nil {
		return nil, err
	}
	res, err := readReservations(ctx, s.Inventory)
	if err != nil {
		return nil, fmt.Errorf("read the reservations: %w", err)
	}
	return []invariant{
		checkCapturedOnce(facts),
		checkCapturedCommitted(orders, res, facts),
		checkGivenBack(orders, res, facts),
		checkAmounts(orders, facts),
	}, nil
}

// checkCapturedOnce: no order is charged twice. The payment service keeps
// at most one payment per order (its UNIQUE constraint backs this up; the
// invariant still looks), and at the provider at most one payment per
// order took money, no payment answered more than one capture under
// distinct idempotency keys, and none captured more than it authorized.
// The order service refunds in full, so no partial refund's answer (which
// the sandbox stores as captured too) is counted as a capture.
func checkCapturedOnce(f paymentFacts) invariant {
	inv := invariant{Name: invCapturedOnce, Checked: int64(len(f.Payments))}
	for _, id := range slices.Sorted(maps.Keys(f.Payments)) {
		if ps := f.Payments[id]; len(ps) > 1 {
			inv.violate("order %s has %d payments in the payment service", id, len(ps))
		}
	}
	for _, id := range slices.Sorted(maps.Keys(f.Provider)) {
		charged := 0
		for _, p := range f.Provider[id] {
			if p.Captured > 0 {
				charged++
			}
			switch {
			case p.Captures > 1:
				inv.violate("order %s: the provider's payment %s was captured %d times", id, p.Ref, p.Captures)
			case p.Captured > p.Authorized:
				inv.violate("order %s: the provider's payment %s captured %d of %d authorized", id, p.Ref, p.Captured, p.Authorized)
			}
		}
		if charged > 1 {
			inv.violate("order %s was charged by %d payments at the provider", id, charged)
		}
	}
	return inv.settle()
}

// checkCapturedCommitted: an order whose payment was captured was sold:
// it is PLACED and inventory committed its reservation (once the consumers
// caught up, OrderPlaced has been consumed).
func checkCapturedCommitted(orders map[string]*order, res map[string]*order, f paymentFacts) invariant {
	inv := invariant{Name: invCaptured}
	captured := map[string]bool{}
	for id, o := range orders {
		if o.PaymentState == "CAPTURED" {
			captured[id] = true
		}
	}
	for id, ps := range f.Payments {
		if slices.ContainsFunc(ps, func(p payment) bool { return p.State == "CAPTURED" }) {
			captured[id] = true
		}
	}
	for _, id := range slices.Sorted(maps.Keys(captured)) {
		inv.Checked++
		o, r := orders[id], res[id]
		switch {
		case o == nil:
			inv.violate("the payment of order %s is captured but no such order exists", id)
		case o.Status != "PLACED":
			inv.violate("order %s is %s but its payment is captured", id, o.Status)
		case r == nil:
			inv.violate("order %s is captured but has no reservation", id)
		case r.Status != "COMMITTED":
			inv.violate("order %s is captured but its reservation is %s, not COMMITTED", id, r.Status)
		}
	}
	return inv.settle()
}

// givenBack are the payment states a FAILED or CANCELLED order may leave
// behind, in the order service ("NONE": never asked) and in the payment
// service (no payment at all is fine too).
var givenBack = []string{"NONE", "VOIDED", "REFUNDED", "DECLINED"}

// checkGivenBack: a FAILED or CANCELLED order holds nothing: its
// reservation is RELEASED (or it never reserved), and its payment was
// voided, refunded or declined (or there is none), in the order service,
// the payment service and at the provider, which holds no authorization
// and keeps no money of it.
func checkGivenBack(orders map[string]*order, res map[string]*order, f paymentFacts) invariant {
	inv := invariant{Name: invGivenBack}
	for _, id := range slices.Sorted(maps.Keys(orders)) {
		o := orders[id]
		if o.Status != "FAILED" && o.Status != "CANCELLED" {
			continue
		}
		inv.Checked++
		if r := res[id]; r != nil && r.Status != "RELEASED" {
			inv.violate("order %s is %s but its reservation is still %s", id, o.Status, r.Status)
		}
		if !slices.Contains(givenBack, o.PaymentState) {
			inv.violate("order %s is %s but its payment state is %s", id, o.Status, o.PaymentState)
		}
		for _, p := range f.Payments[id] {
			if !slices.Contains(givenBack, p.State) {
				inv.violate("order %s is %s but its payment %s is %s in the payment service", id, o.Status, p.ID, p.State)
			}
		}
		for _, p := range f.Provider[id] {
			if p.Status == "authorized" || p.Captured > p.Refunded {
				inv.violate("order %s is %s but the provider's payment %s is %s, %d captured and %d refunded", id, o.Status, p.Ref, p.Status, p.Captured, p.Refunded)
			}
		}
	}
	return inv.settle()
}

// checkAmounts: every payment is for an order that exists, in the order's
// currency and for exactly its total, and so is what the provider
// authorized for it.
func checkAmounts(orders map[string]*order, f paymentFacts) invariant {
	inv := invariant{Name: invAmount}
	for _, id := range slices.Sorted(maps.Keys(f.Payments)) {
		o := orders[id]
		for _, p := range f.Payments[id] {
			inv.Checked++
			switch {
			case o == nil:
				inv.violate("payment %s is for order %s, which does not exist", p.ID, id)
			case p.AmountMinor != o.TotalMinor || !strings.EqualFold(p.Currency, o.Currency):
				inv.violate("order %s totals %d %s but its payment %s is for %d %s", id, o.TotalMinor, o.Currency, p.ID, p.AmountMinor, p.Currency)
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(f.Provider)) {
		o := orders[id]
		for _, p := range f.Provider[id] {
			switch {
			case o == nil:
				inv.violate("the provider's payment %s is for order %s, which does not exist", p.Ref, id)
			case p.Authorized != o.TotalMinor || !strings.EqualFold(p.Currency, o.Currency):
				inv.violate("order %s totals %d %s but the provider authorized %d %s (payment %s)", id, o.TotalMinor, o.Currency, p.Authorized, p.Currency, p.Ref)
			}
		}
	}
	return inv.settle()
}
