package saga_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/mock/gomock"

	"github.com/slipway-dev/slipway/platform/events"
	platformstore "github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/platform/store/storetest"
	"github.com/slipway-dev/slipway/services/order/internal/domain"
	"github.com/slipway-dev/slipway/services/order/internal/domain/mock"
	"github.com/slipway-dev/slipway/services/order/internal/saga"
	"github.com/slipway-dev/slipway/services/order/internal/store"
)

// logBuffer is a logger's output that a test reads while the worker writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// An order left PENDING by an instance that crashed right after storing it
// is found by the worker of another and driven to PLACED and captured.
func TestTheWorkerFinishesAnOrderLeftPending(t *testing.T) {
	ctx := t.Context()
	db := storetest.Open(t, platformstore.SQLite)
	require.NoError(t, db.Migrate(ctx, store.Migrations()))
	require.NoError(t, events.EnsureSchema(ctx, db))
	orders := store.New(db)

	at := time.Now().UTC().Add(-time.Minute).Truncate(time.Microsecond)
	id := domain.OrderID("user-1", "key-00000001")
	requested := []domain.Item{{ProductID: "beans", Quantity: 2}}
	require.NoError(t, orders.Create(ctx, domain.Order{
		ID: id, UserID: "user-1", Status: domain.StatusPending, PaymentState: domain.PaymentNone,
		IdempotencyKey: "key-00000001", Fingerprint: domain.Fingerprint(requested), Requested: requested,
		CreatedAt: at, UpdatedAt: at,
	}))

	ctrl := gomock.NewController(t)
	stock := mock.NewMockStockReserver(ctrl)
	payments := mock.NewMockPayments(ctrl)
	usd := domain.Money{AmountMinor: 2 * 1450, Currency: "USD"}
	gomock.InOrder(
		stock.EXPECT().Reserve(gomock.Any(), id, requested).Return(map[string]domain.Price{
			"beans": {Name: "Beans", Unit: domain.Money{AmountMinor: 1450, Currency: "USD"}},
		}, nil),
		payments.EXPECT().Authorize(gomock.Any(), domain.PaymentRequest{OrderID: id, UserID: "user-1", Amount: usd}).
			Return(domain.PaymentResult{PaymentID: "pay-1"}, nil),
		payments.EXPECT().Capture(gomock.Any(), id, usd).Return(nil),
	)
	cfg := domain.DefaultSagaConfig()
	cfg.Deadline = time.Hour // created a minute ago: still in time
	logs := &logBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	svc, err := domain.NewOrderService(orders, stock, payments, nil, cfg, logger)
	require.NoError(t, err)

	reg := prometheus.NewRegistry()
	w, err := saga.New(svc, 10*time.Millisecond, logger, reg)
	require.NoError(t, err)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	require.Eventually(t, func() bool {
		o, err := orders.Get(ctx, id)
		return err == nil && o.PaymentState == domain.PaymentCaptured
	}, 5*time.Second, 5*time.Millisecond)
	time.Sleep(30 * time.Millisecond) // a few more passes: nothing left to do
	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err, "a stopped worker is no failure")
	case <-time.After(5 * time.Second):
		t.Fatal("the worker did not stop")
	}

	o, err := orders.Get(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, domain.StatusPlaced, o.Status)
	assert.Equal(t, "pay-1", o.PaymentID)
	assert.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP slipway_order_saga_resumed_total Orders whose saga the recovery worker resumed after it stopped half way (a crash, a payment still in flight).
# TYPE slipway_order_saga_resumed_total counter
slipway_order_saga_resumed_total 1
`), "slipway_order_saga_resumed_total"), "resumed once")
	assert.Contains(t, logs.String(), `"msg":"unfinished orders resumed"`)
	assert.Contains(t, logs.String(), `"msg":"order saga resumed"`)
}

// recoverer is a scripted Recoverer.
type recoverer struct {
	n   int
	err error
}

func (r recoverer) Recover(context.Context) (int, error) { return r.n, r.err }

func TestAFailedPassIsCountedAndLogged(t *testing.T) {
	reg := prometheus.NewRegistry()
	logs := &logBuffer{}
	w, err := saga.New(recoverer{n: 2, err: errors.New("disk I/O error")}, time.Second, slog.New(slog.NewJSONHandler(logs, nil)), reg)
	require.NoError(t, err)
	assert.Equal(t, 2, w.Recover(t.Context()))
	assert.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP slipway_order_saga_recovery_failures_total Recovery passes that could not resume every unfinished order; they are retried on the next pass.
# TYPE slipway_order_saga_recovery_failures_total counter
slipway_order_saga_recovery_failures_total 1
# HELP slipway_order_saga_resumed_total Orders whose saga the recovery worker resumed after it stopped half way (a crash, a payment still in flight).
# TYPE slipway_order_saga_resumed_total counter
slipway_order_saga_resumed_total 2
`)))
	assert.Contains(t, logs.String(), `"msg":"saga recovery failed"`)
	assert.Contains(t, logs.String(), "disk I/O error")
}

func TestAPassWhileStoppingIsNoFailure(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	reg := prometheus.NewRegistry()
	w, err := saga.New(recoverer{err: context.Canceled}, time.Second, slog.New(slog.DiscardHandler), reg)
	require.NoError(t, err)
	assert.Zero(t, w.Recover(ctx))
	n, err := testutil.GatherAndCount(reg, "slipway_order_saga_recovery_failures_total")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	assert.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP slipway_order_saga_recovery_failures_total Recovery passes that could not resume every unfinished order; they are retried on the next pass.
# TYPE slipway_order_saga_recovery_failures_total counter
slipway_order_saga_recovery_failures_total 0
`), "slipway_order_saga_recovery_failures_total"))
}

func TestNewRefusesAnIntervalThatIsNotPositive(t *testing.T) {
	_, err := saga.New(recoverer{}, 0, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	assert.ErrorContains(t, err, "interval")
}

// stalling is a Recoverer whose first pass does not end until released
// (an order whose payment does not answer), and which counts its passes.
type stalling struct {
	mu      sync.Mutex
	passes  int
	release chan struct{}
}

func (s *stalling) Recover(ctx context.Context) (int, error) {
	s.mu.Lock()
	s.passes++
	first := s.passes == 1
	s.mu.Unlock()
	if first {
		select {
		case <-s.release:
		case <-ctx.Done():
		}
	}
	return 0, nil
}

func (s *stalling) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.passes
}

// A pass held up by one order must not hold up the next passes: the orders
// that become resumable meanwhile are taken up on the next tick. Run returns
// only once every pass has ended.
func TestAStalledPassDoesNotHoldUpTheNext(t *testing.T) {
	r := &stalling{release: make(chan struct{})}
	w, err := saga.New(r, 10*time.Millisecond, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()

	require.Eventually(t, func() bool { return r.count() >= 3 }, 5*time.Second, 5*time.Millisecond,
		"later passes ran while the first was stalled")
	cancel()
	require.NoError(t, <-done)
	close(r.release)
}
