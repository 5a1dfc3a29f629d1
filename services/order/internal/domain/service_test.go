package domain_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/mock/gomock"

	"github.com/slipway-dev/slipway/platform/errkind"
	"github.com/slipway-dev/slipway/services/order/internal/domain"
)

var now = time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.UTC)

var (
	alice = domain.Actor{Subject: "user-alice", Role: domain.RoleCustomer}
	bob   = domain.Actor{Subject: "user-bob", Role: domain.RoleCustomer}
	admin = domain.Actor{Subject: "user-admin", Role: domain.RoleAdmin}
)

// catalog is what the mocked inventory prices.
var catalog = map[string]domain.Price{
	"beans":   {Name: "Kenya Nyeri 250 g", Unit: domain.Money{AmountMinor: 1450, Currency: "USD"}},
	"filters": {Name: "Paper filters", Unit: domain.Money{AmountMinor: 699, Currency: "USD"}},
	"grinder": {Name: "Hand grinder", Unit: domain.Money{AmountMinor: 9900, Currency: "EUR"}},
}

// priced answers a Prices call from catalog, leaving unknown products out.
func priced(_ context.Context, ids []string) (map[string]domain.Price, error) {
	out := map[string]domain.Price{}
	for _, id := range ids {
		if p, ok := catalog[id]; ok {
			out[id] = p
		}
	}
	return out, nil
}

// reservedAt answers a Reserve from catalog: the price of each product it
// knows, as inventory answers the prices it reserved at.
func reservedAt(_ context.Context, _ string, items []domain.Item) (map[string]domain.Price, error) {
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.ProductID
	}
	return priced(context.Background(), ids)
}

// logBuffer collects the service's JSON log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// messages returns the msg of every line, in order.
func (b *logBuffer) messages() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var msgs []string
	sc := bufio.NewScanner(bytes.NewReader(b.buf.Bytes()))
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) == nil {
			msgs = append(msgs, fmt.Sprint(line["msg"]))
		}
	}
	return msgs
}

func (e env) count(t *testing.T, table string) int {
	t.Helper()
	var n int
	require.NoError(t, e.db.QueryRowContext(t.Context(), `SELECT count(*) FROM `+table).Scan(&n))
	return n
}

// outboxSubjects lists the subjects of the events the service stored.
func (e env) outboxSubjects(t *testing.T) []string {
	t.Helper()
	rows, err := e.db.QueryContext(t.Context(), `SELECT subject FROM outbox ORDER BY id`)
	require.NoError(t, err)
	defer rows.Close()
	var subjects []string
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		subjects = append(subjects, s)
	}
	require.NoError(t, rows.Err())
	return subjects
}

// place creates an order of items for actor with key, expecting the
// inventory calls a new paid order makes; it ends PLACED and captured.
func (e env) place(t *testing.T, actor domain.Actor, key string, items ...domain.Item) domain.Order {
	t.Helper()
	e.stock.EXPECT().Reserve(gomock.Any(), domain.OrderID(actor.Subject, key), gomock.Any()).DoAndReturn(reservedAt)
	o, err := e.svc.CreateOrder(t.Context(), actor, key, items, "")
	require.NoError(t, err)
	require.Equal(t, domain.StatusPlaced, o.Status)
	require.Equal(t, domain.PaymentCaptured, o.PaymentState)
	return o
}

func usd(minor int64) domain.Money { return domain.Money{AmountMinor: minor, Currency: "USD"} }

func TestCreateOrder(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	key := "key-0001-aaaa"
	id := domain.OrderID(alice.Subject, key)
	// Lines that repeat a product merge, as inventory merges them.
	items := []domain.Item{{ProductID: "filters", Quantity: 1}, {ProductID: "beans", Quantity: 1}, {ProductID: "beans", Quantity: 2}}
	merged := []domain.Item{{ProductID: "beans", Quantity: 3}, {ProductID: "filters", Quantity: 1}}

	e.stock.EXPECT().Reserve(gomock.Any(), id, merged).DoAndReturn(reservedAt)
	o, err := e.svc.CreateOrder(ctx, alice, key, items, "")
	require.NoError(t, err)

	want := domain.Order{
		ID:           id,
		UserID:       alice.Subject,
		Status:       domain.StatusPlaced,
		PaymentState: domain.PaymentCaptured,
		PaymentID:    "pay-" + id,
		// Merged, in the order of each product's first line.
		Requested: []domain.Item{{ProductID: "filters", Quantity: 1}, {ProductID: "beans", Quantity: 3}},
		Items: []domain.OrderItem{
			{ProductID: "beans", Name: "Kenya Nyeri 250 g", Quantity: 3, UnitPrice: usd(1450), LineTotal: usd(4350)},
			{ProductID: "filters", Name: "Paper filters", Quantity: 1, UnitPrice: usd(699), LineTotal: usd(699)},
		},
		Total:          usd(5049),
		IdempotencyKey: key,
		Fingerprint:    domain.Fingerprint(merged),
		CreatedAt:      o.CreatedAt,
		UpdatedAt:      o.UpdatedAt,
	}
	assert.Equal(t, want, o)
	assert.True(t, o.UpdatedAt.After(o.CreatedAt), "moved on since it was created")
	assert.Equal(t, 1, e.pay.count("Authorize"))
	assert.Equal(t, 1, e.pay.count("Capture"))
	assert.True(t, o.CreatedAt.After(now), "stamped by the service's clock")
	stored, err := e.real.Get(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, want, stored)
	assert.Equal(t, []string{"slipway.order.placed"}, e.outboxSubjects(t), "the event was stored with the order")
	assert.Contains(t, e.logs.messages(), "order placed")

	t.Run("the same request again returns the order and reserves nothing", func(t *testing.T) {
		// The mock fails the test on any further inventory call.
		again, err := e.svc.CreateOrder(ctx, alice, key, []domain.Item{{ProductID: "beans", Quantity: 3}, {ProductID: "filters", Quantity: 1}}, "")
		require.NoError(t, err)
		assert.Equal(t, want, again)
		assert.Equal(t, 1, e.pay.count("Authorize"), "nor authorizes")
		assert.Equal(t, 1, e.count(t, "orders"))
	})
	t.Run("the key with other items is a failed precondition", func(t *testing.T) {
		_, err := e.svc.CreateOrder(ctx, alice, key, []domain.Item{{ProductID: "beans", Quantity: 4}}, "")
		require.ErrorIs(t, err, domain.ErrFailedPrecondition)
		assert.ErrorContains(t, err, "was used with different items")
	})
	t.Run("another user's identical key is another order", func(t *testing.T) {
		o := e.place(t, bob, key, items...)
		assert.NotEqual(t, id, o.ID)
		assert.Equal(t, bob.Subject, o.UserID)
	})
}

func TestCreateOrderDerivesTheIDFromUserAndKey(t *testing.T) {
	a := domain.OrderID("u1", "key-0001")
	assert.Equal(t, a, domain.OrderID("u1", "key-0001"), "stable")
	assert.Len(t, a, 36, "a UUID")
	assert.NotEqual(t, a, domain.OrderID("u2", "key-0001"))
	assert.NotEqual(t, a, domain.OrderID("u1", "key-0002"))
	assert.NotEqual(t, domain.OrderID("ab", "c-------"), domain.OrderID("a", "bc-------"))
}

func TestCreateOrderRefusesBadRequests(t *testing.T) {
	items := func(n int, q int64) []domain.Item {
		out := make([]domain.Item, n)
		for i := range out {
			out[i] = domain.Item{ProductID: fmt.Sprintf("p-%d", i), Quantity: q}
		}
		return out
	}
	tests := []struct {
		name      string
		actor     domain.Actor
		key       string
		items     []domain.Item
		wantKind  error
		wantField string
	}{
		{name: "no user", actor: domain.Actor{Role: domain.RoleCustomer}, key: "key-0001", items: items(1, 1), wantKind: errkind.Unauthenticated},
		{name: "a service account", actor: domain.Actor{Subject: "inventory", Role: domain.RoleService}, key: "key-0001", items: items(1, 1), wantKind: errkind.PermissionDenied},
		{name: "a short key", actor: alice, key: "short", items: items(1, 1), wantField: "idempotency_key"},
		{name: "no items", actor: alice, key: "key-0001", wantField: "items"},
		{name: "too many items", actor: alice, key: "key-0001", items: items(51, 1), wantField: "items"},
		{name: "a zero quantity", actor: alice, key: "key-0001", items: items(2, 0), wantField: "items[0].quantity"},
		{name: "an empty product", actor: alice, key: "key-0001", items: []domain.Item{{ProductID: "a", Quantity: 1}, {Quantity: 1}}, wantField: "items[1].product_id"},
		{
			name: "more than 1000 of a product over its lines", actor: alice, key: "key-0001",
			items:     []domain.Item{{ProductID: "a", Quantity: 1}, {ProductID: "b", Quantity: 600}, {ProductID: "b", Quantity: 600}},
			wantField: "items[1].quantity",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t) // any inventory call fails the test
			_, err := e.svc.CreateOrder(t.Context(), tt.actor, tt.key, tt.items, "")
			require.Error(t, err)
			if tt.wantField != "" {
				var fe *errkind.FieldError
				require.ErrorAs(t, err, &fe)
				assert.Equal(t, tt.wantField, fe.Field)
				return
			}
			assert.ErrorIs(t, err, tt.wantKind)
		})
	}
}

func TestCreateOrderWithBadPrices(t *testing.T) {
	tests := []struct {
		name      string
		items     []domain.Item
		unknown   bool // Reserve finds an unknown product
		wantField string
	}{
		{
			name:      "an unknown product is named by its first line",
			items:     []domain.Item{{ProductID: "beans", Quantity: 1}, {ProductID: "unicorn", Quantity: 1}, {ProductID: "unicorn", Quantity: 1}},
			unknown:   true,
			wantField: "items[1].product_id",
		},
		{
			name:      "a second currency",
			items:     []domain.Item{{ProductID: "beans", Quantity: 1}, {ProductID: "grinder", Quantity: 1}},
			wantField: "items[1].product_id",
		},
		{
			name:      "the first line sets the currency",
			items:     []domain.Item{{ProductID: "grinder", Quantity: 1}, {ProductID: "filters", Quantity: 1}, {ProductID: "beans", Quantity: 1}},
			wantField: "items[1].product_id",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			id := domain.OrderID(alice.Subject, "key-0001")
			if tt.unknown {
				// Nothing was reserved; only the line at fault is looked up.
				// The failed order releases all the same, which also stops a
				// late reservation of it.
				gomock.InOrder(
					e.stock.EXPECT().Reserve(gomock.Any(), id, gomock.Any()).
						Return(nil, fmt.Errorf("product %q: %w", "unicorn", errkind.NotFound)),
					e.stock.EXPECT().Prices(gomock.Any(), gomock.Any()).DoAndReturn(priced),
					e.stock.EXPECT().Release(gomock.Any(), id).Return(nil),
				)
			} else {
				// Reserved, and then it cannot be priced: the stock goes back.
				gomock.InOrder(
					e.stock.EXPECT().Reserve(gomock.Any(), id, gomock.Any()).DoAndReturn(reservedAt),
					e.stock.EXPECT().Release(gomock.Any(), id).Return(nil),
				)
			}
			_, err := e.svc.CreateOrder(t.Context(), alice, "key-0001", tt.items, "")
			var fe *errkind.FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tt.wantField, fe.Field)
			failed := e.stored(t, id)
			assert.Equal(t, domain.StatusFailed, failed.Status)
			assert.Equal(t, err.Error(), failed.FailureReason)
			assert.True(t, failed.StockReleased)
			assert.Zero(t, e.pay.count("Authorize"), "nothing to pay for")
			assert.Equal(t, []string{"slipway.order.failed"}, e.outboxSubjects(t))
		})
	}
}

func TestCreateOrderRefusesATotalThatOverflows(t *testing.T) {
	e := newEnv(t)
	id := domain.OrderID(alice.Subject, "key-0001")
	gomock.InOrder(
		e.stock.EXPECT().Reserve(gomock.Any(), id, gomock.Any()).Return(map[string]domain.Price{
			"gold": {Name: "Gold", Unit: domain.Money{AmountMinor: math.MaxInt64 / 2, Currency: "USD"}},
		}, nil),
		e.stock.EXPECT().Release(gomock.Any(), id).Return(nil),
	)
	_, err := e.svc.CreateOrder(t.Context(), alice, "key-0001", []domain.Item{{ProductID: "gold", Quantity: 3}}, "")
	require.ErrorIs(t, err, errkind.FailedPrecondition)
	assert.ErrorContains(t, err, "out of range")
}

// An inventory older than reserved prices answers a Reserve with none: the
// order fails, saying so, and gives its stock back rather than charge a
// price read apart from the reservation.
func TestCreateOrderWithAnInventoryThatAnswersNoPrices(t *testing.T) {
	e := newEnv(t)
	id := domain.OrderID(alice.Subject, "key-0001")
	gomock.InOrder(
		e.stock.EXPECT().Reserve(gomock.Any(), id, gomock.Any()).Return(map[string]domain.Price{}, nil),
		e.stock.EXPECT().Release(gomock.Any(), id).Return(nil),
	)
	_, err := e.svc.CreateOrder(t.Context(), alice, "key-0001", []domain.Item{{ProductID: "beans", Quantity: 1}}, "")
	require.Error(t, err)
	assert.ErrorContains(t, err, `answered no price for product "beans"`)
	assert.ErrorContains(t, err, "deploy inventory first")
	for _, k := range []error{errkind.Invalid, errkind.NotFound, errkind.FailedPrecondition, errkind.Unavailable} {
		assert.NotErrorIs(t, err, k, "an error of no kind: the order service's fault, Internal to its caller")
	}
	assert.Equal(t, domain.StatusFailed, e.stored(t, id).Status)
	assert.Contains(t, e.logs.messages(), "order failed")
}

func TestCreateOrderWhenInventoryFails(t *testing.T) {
	items := []domain.Item{{ProductID: "beans", Quantity: 2}}
	id := domain.OrderID(alice.Subject, "key-0001")
	tests := []struct {
		name    string
		script  func(e env)
		wantErr error
	}{
		{
			name: "an unknown product whose line cannot be named",
			script: func(e env) {
				e.stock.EXPECT().Reserve(gomock.Any(), gomock.Any(), gomock.Any()).
					Return(nil, fmt.Errorf("product %q: %w", "beans", errkind.NotFound))
				e.stock.EXPECT().Prices(gomock.Any(), gomock.Any()).Return(nil, fmt.Errorf("inventory: %w", errkind.Unavailable))
				e.stock.EXPECT().Release(gomock.Any(), id).Return(nil)
			},
			wantErr: errkind.NotFound,
		},
		{
			name: "too little stock",
			script: func(e env) {
				e.stock.EXPECT().Reserve(gomock.Any(), gomock.Any(), gomock.Any()).
					Return(nil, fmt.Errorf("insufficient stock for product %q: %w", "beans", errkind.FailedPrecondition))
				e.stock.EXPECT().Release(gomock.Any(), id).Return(nil)
			},
			wantErr: errkind.FailedPrecondition,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			tt.script(e)
			_, err := e.svc.CreateOrder(t.Context(), alice, "key-0001", items, "")
			require.ErrorIs(t, err, tt.wantErr)
			o := e.stored(t, id)
			assert.Equal(t, domain.StatusFailed, o.Status)
			assert.Equal(t, domain.PaymentNone, o.PaymentState)
			assert.Equal(t, []string{"slipway.order.failed"}, e.outboxSubjects(t))
			assert.Zero(t, e.pay.count("Authorize"))
			e.assertInvariants(t, o)

			again, err := e.svc.CreateOrder(t.Context(), alice, "key-0001", items, "")
			require.NoError(t, err, "the key now names the failed order")
			assert.Equal(t, domain.StatusFailed, again.Status)
		})
	}

	t.Run("an inventory that does not answer leaves the order pending", func(t *testing.T) {
		saga := testSaga()
		saga.SyncBudget = 200 * time.Millisecond
		e := newEnvWith(t, saga)
		// Retried until the request's budget ends; no release: the
		// reservation's outcome is unknown and recovery resumes it.
		e.stock.EXPECT().Reserve(gomock.Any(), id, items).Return(nil, fmt.Errorf("inventory: %w", errkind.Unavailable)).MinTimes(2)
		o, err := e.svc.CreateOrder(t.Context(), alice, "key-0001", items, "")
		require.NoError(t, err)
		assert.Equal(t, domain.StatusPending, o.Status)
		assert.False(t, o.Priced())
		assert.Empty(t, e.outboxSubjects(t))
	})
}

// A duplicate that loses the insert to a concurrent one returns the
// winner's order and keeps the reservation both share.
func TestCreateOrderLosingTheInsertReturnsTheWinner(t *testing.T) {
	e := newEnv(t)
	key := "key-0001"
	items := []domain.Item{{ProductID: "beans", Quantity: 2}}
	var winner domain.Order
	e.orders.beforeCreate = func(context.Context) {
		e.orders.beforeCreate = nil
		// The concurrent duplicate commits first, with its own timestamps,
		// and drives the order; the loser calls nothing.
		winner = e.place(t, alice, key, items...)
	}
	got, err := e.svc.CreateOrder(t.Context(), alice, key, items, "")
	require.NoError(t, err)
	assert.Equal(t, winner, got)
	assert.Equal(t, 1, e.count(t, "orders"))
	assert.Equal(t, []string{"slipway.order.placed"}, e.outboxSubjects(t))
	assert.Equal(t, 1, e.pay.count("Authorize"))
}

func TestConcurrentDuplicatesMakeOneOrder(t *testing.T) {
	e := newEnv(t)
	key := "key-0001"
	items := []domain.Item{{ProductID: "beans", Quantity: 2}}
	// One insert wins, and only its request drives the order: one
	// reservation, one authorization; none may release.
	e.stock.EXPECT().Reserve(gomock.Any(), domain.OrderID(alice.Subject, key), items).DoAndReturn(reservedAt).Times(1)

	const n = 20
	ids := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			o, err := e.svc.CreateOrder(context.Background(), alice, key, items, "")
			if assert.NoError(t, err) {
				ids <- o.ID
			}
		})
	}
	wg.Wait()
	close(ids)
	for id := range ids {
		assert.Equal(t, domain.OrderID(alice.Subject, key), id)
	}
	assert.Equal(t, 1, e.count(t, "orders"))
	assert.Len(t, e.outboxSubjects(t), 1)
	assert.Equal(t, 1, e.pay.count("Authorize"), "one authorization")
	assert.Equal(t, 1, e.pay.count("Capture"))
	o := e.stored(t, domain.OrderID(alice.Subject, key))
	assert.Equal(t, domain.PaymentCaptured, o.PaymentState)
	e.assertInvariants(t, o)
}

func TestGetOrder(t *testing.T) {
	e := newEnv(t)
	o := e.place(t, alice, "key-0001", domain.Item{ProductID: "beans", Quantity: 1})
	tests := []struct {
		name    string
		actor   domain.Actor
		id      string
		wantErr error
	}{
		{name: "the owner", actor: alice, id: o.ID},
		{name: "an admin", actor: admin, id: o.ID},
		{name: "another customer sees nothing", actor: bob, id: o.ID, wantErr: errkind.NotFound},
		{name: "a missing order", actor: alice, id: "nope", wantErr: errkind.NotFound},
		{name: "a service account", actor: domain.Actor{Subject: "inventory", Role: domain.RoleService}, id: o.ID, wantErr: errkind.PermissionDenied},
		{name: "no user", actor: domain.Actor{}, id: o.ID, wantErr: errkind.Unauthenticated},
		{name: "no id", actor: alice, wantErr: errkind.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.svc.GetOrder(t.Context(), tt.actor, tt.id)
			if tt.wantErr != nil {
				assert.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, o, got)
		})
	}
	t.Run("someone else's order reads exactly like a missing one", func(t *testing.T) {
		_, theirs := e.svc.GetOrder(t.Context(), bob, o.ID)
		_, missing := e.svc.GetOrder(t.Context(), bob, domain.OrderID(bob.Subject, "key-0001"))
		assert.Equal(t, fmt.Sprintf("order %s: not found", o.ID), theirs.Error())
		assert.Equal(t, fmt.Sprintf("order %s: not found", domain.OrderID(bob.Subject, "key-0001")), missing.Error())
	})
}

func TestListMyOrders(t *testing.T) {
	e := newEnv(t)
	var mine []domain.Order // newest first
	for i := range 5 {
		o := e.place(t, alice, fmt.Sprintf("key-%04d", i), domain.Item{ProductID: "beans", Quantity: int64(i + 1)})
		mine = append([]domain.Order{o}, mine...)
	}
	e.place(t, bob, "key-0000", domain.Item{ProductID: "beans", Quantity: 1})

	var got []domain.Order
	token := ""
	for range 5 {
		page, err := e.svc.ListMyOrders(t.Context(), alice, 2, token)
		require.NoError(t, err)
		assert.LessOrEqual(t, len(page.Orders), 2)
		got = append(got, page.Orders...)
		if token = page.NextPageToken; token == "" {
			break
		}
	}
	assert.Equal(t, mine, got, "every order of alice once, newest first, none of bob's")

	t.Run("the default page holds them all", func(t *testing.T) {
		page, err := e.svc.ListMyOrders(t.Context(), alice, 0, "")
		require.NoError(t, err)
		assert.Equal(t, mine, page.Orders)
		assert.Empty(t, page.NextPageToken)
	})
	t.Run("someone with no orders gets an empty page", func(t *testing.T) {
		page, err := e.svc.ListMyOrders(t.Context(), admin, 10, "")
		require.NoError(t, err)
		assert.Empty(t, page.Orders)
		assert.Empty(t, page.NextPageToken)
	})
	for _, token := range []string{"not a token!", "bm9zbGFzaA", "eC95", string(bytes.Repeat([]byte("a"), 600))} {
		t.Run("a bad page token "+token[:min(len(token), 12)], func(t *testing.T) {
			_, err := e.svc.ListMyOrders(t.Context(), alice, 2, token)
			var fe *errkind.FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, "page_token", fe.Field)
		})
	}
	t.Run("a negative page size", func(t *testing.T) {
		_, err := e.svc.ListMyOrders(t.Context(), alice, -1, "")
		var fe *errkind.FieldError
		require.ErrorAs(t, err, &fe)
		assert.Equal(t, "page_size", fe.Field)
	})
}

func TestListMyOrdersCapsThePageSize(t *testing.T) {
	e := newEnv(t)
	for i := range domain.MaxPageSize + 1 {
		require.NoError(t, e.real.Create(t.Context(), domain.Order{
			ID: fmt.Sprintf("o-%03d", i), UserID: alice.Subject, Status: domain.StatusPending,
			IdempotencyKey: fmt.Sprintf("key-%04d", i), CreatedAt: now, UpdatedAt: now,
		}))
	}
	page, err := e.svc.ListMyOrders(t.Context(), alice, 1000, "")
	require.NoError(t, err)
	assert.Len(t, page.Orders, domain.MaxPageSize)
	assert.NotEmpty(t, page.NextPageToken)
	rest, err := e.svc.ListMyOrders(t.Context(), alice, 1000, page.NextPageToken)
	require.NoError(t, err)
	require.Len(t, rest.Orders, 1, "ties on created_at are broken by id")
	assert.Equal(t, "o-000", rest.Orders[0].ID)
}

func TestCancelOrder(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	o := e.place(t, alice, "key-0001", domain.Item{ProductID: "beans", Quantity: 1})

	t.Run("not the owner's", func(t *testing.T) {
		for _, actor := range []domain.Actor{bob, admin} {
			_, err := e.svc.CancelOrder(ctx, actor, o.ID, "")
			assert.ErrorIs(t, err, errkind.NotFound, actor.Subject)
		}
		_, err := e.svc.CancelOrder(ctx, alice, "nope", "")
		assert.ErrorIs(t, err, errkind.NotFound)
	})
	t.Run("a reason too long", func(t *testing.T) {
		_, err := e.svc.CancelOrder(ctx, alice, o.ID, string(bytes.Repeat([]byte("x"), 201)))
		var fe *errkind.FieldError
		require.ErrorAs(t, err, &fe)
		assert.Equal(t, "reason", fe.Field)
	})
	t.Run("the owner cancels, and the captured payment is refunded", func(t *testing.T) {
		e.stock.EXPECT().Release(gomock.Any(), o.ID).Return(nil)
		got, err := e.svc.CancelOrder(ctx, alice, o.ID, "changed my mind")
		require.NoError(t, err)
		assert.Equal(t, domain.StatusCancelled, got.Status)
		assert.Equal(t, domain.PaymentRefunded, got.PaymentState)
		assert.True(t, got.CancelRequested)
		_, _, voided, refunded := e.pay.effects(o.ID)
		assert.Equal(t, 1, refunded)
		assert.Zero(t, voided)
		assert.Equal(t, "changed my mind", got.CancelReason)
		assert.True(t, got.UpdatedAt.After(o.UpdatedAt))
		stored, err := e.real.Get(ctx, o.ID)
		require.NoError(t, err)
		assert.Equal(t, got, stored)
		assert.Equal(t, []string{"slipway.order.placed", "slipway.order.cancelled"}, e.outboxSubjects(t))
	})
	t.Run("a cancelled order cannot be cancelled again", func(t *testing.T) {
		_, err := e.svc.CancelOrder(ctx, alice, o.ID, "")
		require.ErrorIs(t, err, errkind.FailedPrecondition)
		assert.Len(t, e.outboxSubjects(t), 2)
	})
	t.Run("the key of a cancelled order returns it", func(t *testing.T) {
		again, err := e.svc.CreateOrder(ctx, alice, "key-0001", []domain.Item{{ProductID: "beans", Quantity: 1}}, "")
		require.NoError(t, err)
		assert.Equal(t, domain.StatusCancelled, again.Status)
	})
}

func TestCancelOrderSucceedsWhenTheReleaseFails(t *testing.T) {
	e := newEnv(t)
	o := e.place(t, alice, "key-0001", domain.Item{ProductID: "beans", Quantity: 1})
	e.stock.EXPECT().Release(gomock.Any(), o.ID).Return(fmt.Errorf("inventory: %w", errkind.Unavailable))
	got, err := e.svc.CancelOrder(t.Context(), alice, o.ID, "")
	require.NoError(t, err, "inventory releases when it consumes OrderCancelled")
	assert.Equal(t, domain.StatusCancelled, got.Status)
	assert.Contains(t, e.logs.messages(), "release after cancel failed; inventory releases when it consumes OrderCancelled")
	assert.Equal(t, []string{"slipway.order.placed", "slipway.order.cancelled"}, e.outboxSubjects(t))
}

func TestConcurrentCancelsCancelOnce(t *testing.T) {
	e := newEnv(t)
	o := e.place(t, alice, "key-0001", domain.Item{ProductID: "beans", Quantity: 1})
	e.stock.EXPECT().Release(gomock.Any(), o.ID).Return(nil).Times(1)
	const n = 8
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := e.svc.CancelOrder(context.Background(), alice, o.ID, "")
			errs <- err
		}()
	}
	// One begins the cancel; a concurrent one that sees it begun finishes it
	// too (idempotently), one that lost the race to begin it is refused.
	ok := 0
	for range n {
		if err := <-errs; err == nil {
			ok++
		} else {
			assert.ErrorIs(t, err, errkind.FailedPrecondition)
		}
	}
	assert.GreaterOrEqual(t, ok, 1)
	assert.Equal(t, []string{"slipway.order.placed", "slipway.order.cancelled"}, e.outboxSubjects(t))
	_, _, _, refunded := e.pay.effects(o.ID)
	assert.Equal(t, 1, refunded, "refunded once")
}
