package domain_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/mock/gomock"

	"github.com/slipway-dev/slipway/platform/events"
	platformstore "github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/platform/store/storetest"
	"github.com/slipway-dev/slipway/services/order/internal/domain"
	"github.com/slipway-dev/slipway/services/order/internal/domain/mock"
	"github.com/slipway-dev/slipway/services/order/internal/store"
)

// faultyStore is the real store with failures a test can switch on, per
// method: fail makes the method fail without storing anything, lost makes
// it store and then fail, as a commit whose answer never arrived does.
type faultyStore struct {
	domain.OrderStore
	mu   sync.Mutex
	fail map[string]error
	lost map[string]error
	// beforeCreate runs first in Create (e.g. a concurrent duplicate's insert).
	beforeCreate func(ctx context.Context)
}

// failOn makes method fail, storing nothing; nil heals it.
func (f *faultyStore) failOn(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail == nil {
		f.fail = map[string]error{}
	}
	f.fail[method] = err
}

// loseOn makes method store and then fail with err.
func (f *faultyStore) loseOn(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.lost == nil {
		f.lost = map[string]error{}
	}
	f.lost[method] = err
}

func (f *faultyStore) faults(method string) (before, after error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fail[method], f.lost[method]
}

// guarded runs a transition of the real store with method's faults.
func (f *faultyStore) guarded(method string, run func() (bool, error)) (bool, error) {
	before, after := f.faults(method)
	if before != nil {
		return false, before
	}
	ok, err := run()
	if err != nil {
		return ok, err
	}
	if after != nil {
		return false, after
	}
	return ok, nil
}

func (f *faultyStore) Create(ctx context.Context, o domain.Order) error {
	if f.beforeCreate != nil {
		f.beforeCreate(ctx)
	}
	_, err := f.guarded("Create", func() (bool, error) { return true, f.OrderStore.Create(ctx, o) })
	return err
}

func (f *faultyStore) Price(ctx context.Context, o domain.Order) (bool, error) {
	return f.guarded("Price", func() (bool, error) { return f.OrderStore.Price(ctx, o) })
}

func (f *faultyStore) Place(ctx context.Context, e domain.OrderPlaced) (bool, error) {
	return f.guarded("Place", func() (bool, error) { return f.OrderStore.Place(ctx, e) })
}

func (f *faultyStore) Captured(ctx context.Context, id string, at time.Time) (bool, error) {
	return f.guarded("Captured", func() (bool, error) { return f.OrderStore.Captured(ctx, id, at) })
}

func (f *faultyStore) Fail(ctx context.Context, e domain.OrderFailed) (bool, error) {
	return f.guarded("Fail", func() (bool, error) { return f.OrderStore.Fail(ctx, e) })
}

func (f *faultyStore) Released(ctx context.Context, id string, at time.Time) (bool, error) {
	return f.guarded("Released", func() (bool, error) { return f.OrderStore.Released(ctx, id, at) })
}

func (f *faultyStore) RequestCancel(ctx context.Context, id, reason string, at time.Time) (bool, error) {
	return f.guarded("RequestCancel", func() (bool, error) { return f.OrderStore.RequestCancel(ctx, id, reason, at) })
}

func (f *faultyStore) Cancel(ctx context.Context, e domain.OrderCancelled, from domain.PaymentState) (bool, error) {
	return f.guarded("Cancel", func() (bool, error) { return f.OrderStore.Cancel(ctx, e, from) })
}

func (f *faultyStore) Get(ctx context.Context, id string) (domain.Order, error) {
	if before, _ := f.faults("Get"); before != nil {
		return domain.Order{}, before
	}
	return f.OrderStore.Get(ctx, id)
}

// sandbox is the payment service as the sandbox provider behaves, behind
// the mocked Payments: idempotent by order, so what it counts is what was
// charged, whatever the calls. A test scripts failures per method with
// script; a scripted error with landed set takes effect and then fails, as
// a call whose answer was lost.
type sandbox struct {
	mu                                   sync.Mutex
	authorized, captured, voided, refund map[string]int // effects per order
	calls                                map[string]int // calls per method
	script                               map[string][]scripted
	authorizeOrders                      []string
}

type scripted struct {
	err    error
	landed bool
}

func newSandbox() *sandbox {
	return &sandbox{
		authorized: map[string]int{}, captured: map[string]int{}, voided: map[string]int{}, refund: map[string]int{},
		calls: map[string]int{}, script: map[string][]scripted{},
	}
}

// fail scripts the next n calls of method to fail with err.
func (p *sandbox) fail(method string, n int, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for range n {
		p.script[method] = append(p.script[method], scripted{err: err})
	}
}

// land scripts the next call of method to take effect and fail with err.
func (p *sandbox) land(method string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.script[method] = append(p.script[method], scripted{err: err, landed: true})
}

// next is the scripted outcome of a call of method, counting it.
func (p *sandbox) next(method string) (scripted, bool) {
	p.calls[method]++
	if q := p.script[method]; len(q) > 0 {
		p.script[method] = q[1:]
		return q[0], true
	}
	return scripted{}, false
}

func (p *sandbox) count(method string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[method]
}

func (p *sandbox) effects(orderID string) (authorized, captured, voided, refunded int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.authorized[orderID], p.captured[orderID], p.voided[orderID], p.refund[orderID]
}

func (p *sandbox) Authorize(_ context.Context, r domain.PaymentRequest) (domain.PaymentResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.authorizeOrders = append(p.authorizeOrders, r.OrderID)
	s, scriptedCall := p.next("Authorize")
	if scriptedCall && !s.landed {
		return domain.PaymentResult{}, s.err
	}
	if r.Method == "pm_card_chargeDeclined" {
		return domain.PaymentResult{}, fmt.Errorf("%w: your card was declined", domain.ErrPaymentDeclined)
	}
	if p.voided[r.OrderID] == 0 {
		p.authorized[r.OrderID] = 1 // idempotent by the order
	}
	return domain.PaymentResult{PaymentID: "pay-" + r.OrderID}, s.err
}

func (p *sandbox) Capture(_ context.Context, orderID string, _ domain.Money) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, scriptedCall := p.next("Capture")
	if scriptedCall && !s.landed {
		return s.err
	}
	if p.authorized[orderID] == 0 || p.voided[orderID] > 0 {
		return errors.New("no live authorization to capture")
	}
	p.captured[orderID] = 1
	return s.err
}

func (p *sandbox) Void(_ context.Context, orderID string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, scriptedCall := p.next("Void")
	if scriptedCall && !s.landed {
		return s.err
	}
	if p.captured[orderID] > 0 {
		return errors.New("a captured payment cannot be voided")
	}
	p.voided[orderID] = 1
	return s.err
}

func (p *sandbox) Refund(_ context.Context, orderID string, _ domain.Money) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, scriptedCall := p.next("Refund")
	if scriptedCall && !s.landed {
		return s.err
	}
	if p.captured[orderID] == 0 {
		return errors.New("nothing captured to refund")
	}
	p.refund[orderID] = 1
	return s.err
}

// env is one test's service over a fresh SQLite store, a mocked inventory
// and a mocked payment service that answers as the sandbox does.
type env struct {
	svc    *domain.OrderService
	stock  *mock.MockStockReserver
	pay    *sandbox
	orders *faultyStore
	real   *store.Store
	db     *platformstore.DB
	logs   *logBuffer
	clock  *clock
	saga   domain.SagaConfig
	ctrl   *gomock.Controller
	mocked *mock.MockPayments
}

// clock ticks at least one millisecond per read, so orders have distinct
// times, and follows real time from its start, so deadlines pass.
type clock struct {
	mu    sync.Mutex
	t     time.Time
	base  time.Time
	start time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	if real := c.base.Add(time.Since(c.start)); real.After(c.t) {
		c.t = real
	}
	return c.t
}

// testSaga is a saga quick enough for tests: retries every few
// milliseconds, five seconds before an order fails (ample for a test that
// recovers it), no grace before recovery.
func testSaga() domain.SagaConfig {
	return domain.SagaConfig{
		Deadline: 5 * time.Second, SyncBudget: 2 * time.Second,
		RetryInitial: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond,
		Grace: 0, Lease: 10 * time.Second, Batch: 100,
	}
}

func newEnv(t *testing.T) env { return newEnvWith(t, testSaga()) }

func newEnvWith(t *testing.T, saga domain.SagaConfig) env {
	t.Helper()
	db := storetest.Open(t, platformstore.SQLite)
	require.NoError(t, db.Migrate(t.Context(), store.Migrations()))
	require.NoError(t, events.EnsureSchema(t.Context(), db))
	real := store.New(db)
	ctrl := gomock.NewController(t)
	e := env{
		stock:  mock.NewMockStockReserver(ctrl),
		pay:    newSandbox(),
		orders: &faultyStore{OrderStore: real},
		real:   real,
		db:     db,
		logs:   &logBuffer{},
		clock:  &clock{t: now, base: now, start: time.Now()},
		saga:   saga,
		ctrl:   ctrl,
		mocked: mock.NewMockPayments(ctrl),
	}
	e.mocked.EXPECT().Authorize(gomock.Any(), gomock.Any()).DoAndReturn(e.pay.Authorize).AnyTimes()
	e.mocked.EXPECT().Capture(gomock.Any(), gomock.Any(), gomock.Any()).DoAndReturn(e.pay.Capture).AnyTimes()
	e.mocked.EXPECT().Void(gomock.Any(), gomock.Any()).DoAndReturn(e.pay.Void).AnyTimes()
	e.mocked.EXPECT().Refund(gomock.Any(), gomock.Any(), gomock.Any()).DoAndReturn(e.pay.Refund).AnyTimes()
	e.svc = e.service(t, e.orders)
	return e
}

// service is a fresh OrderService over orders and the env's mocks, as a
// restarted instance (or another one) is.
func (e env) service(t *testing.T, orders domain.OrderStore) *domain.OrderService {
	t.Helper()
	svc, err := domain.NewOrderService(orders, e.stock, e.mocked, nil, e.saga, slog.New(slog.NewJSONHandler(e.logs, nil)))
	require.NoError(t, err)
	svc.SetClock(e.clock.now)
	return svc
}

// stored is the order as the store has it.
func (e env) stored(t *testing.T, id string) domain.Order {
	t.Helper()
	o, err := e.real.Get(t.Context(), id)
	require.NoError(t, err)
	return o
}

// assertInvariants checks what must hold of a settled order whatever
// happened: never captured twice, captured only if placed, failed only
// with the stock released and no live authorization.
func (e env) assertInvariants(t *testing.T, o domain.Order) {
	t.Helper()
	authorized, captured, voided, _ := e.pay.effects(o.ID)
	assert.LessOrEqual(t, authorized, 1, "one authorization")
	assert.LessOrEqual(t, captured, 1, "one capture")
	if o.PaymentState == domain.PaymentCaptured {
		assert.Equal(t, domain.StatusPlaced, o.Status, "captured ⇒ placed")
		assert.Equal(t, 1, captured, "captured at the payment service")
	}
	if o.Status == domain.StatusFailed {
		assert.True(t, o.StockReleased, "failed ⇒ released")
		assert.False(t, authorized == 1 && voided == 0, "failed ⇒ no live authorization")
		assert.Zero(t, captured, "failed ⇒ nothing captured")
	}
}
