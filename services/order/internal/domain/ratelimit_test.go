package domain_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/errkind"
	"github.com/slipway-dev/slipway/platform/ratelimit"
	"github.com/slipway-dev/slipway/services/order/internal/domain"
)

// memoryLimiter is the platform's in-memory limiter as the domain's port.
type memoryLimiter struct{ *ratelimit.Memory }

func (m memoryLimiter) Allow(ctx context.Context, userID string) (bool, time.Duration) {
	d := m.Memory.Allow(ctx, userID)
	return d.Allowed, d.RetryAfter
}

// Past the limit a new order is refused with the wait, before inventory is
// asked; a retry of a placed order still answers, and other users are not
// limited.
func TestCreateOrderIsRateLimitedPerUser(t *testing.T) {
	e := newEnv(t)
	e.svc.SetLimiter(memoryLimiter{ratelimit.NewMemory(ratelimit.Limit{Rate: 1.0 / 60, Burst: 2})})
	beans := domain.Item{ProductID: "beans", Quantity: 1}
	first := e.place(t, alice, "key-00001", beans)
	e.place(t, alice, "key-00002", beans)

	// No inventory call is expected: the mock fails the test if one is made.
	_, err := e.svc.CreateOrder(t.Context(), alice, "key-00003", []domain.Item{beans}, "")
	require.ErrorIs(t, err, errkind.ResourceExhausted)
	var ra *errkind.RetryAfterError
	require.True(t, errors.As(err, &ra))
	assert.Greater(t, ra.After, 50*time.Second, "one order a minute: most of a minute to wait")
	assert.LessOrEqual(t, ra.After, time.Minute)

	again, err := e.svc.CreateOrder(t.Context(), alice, "key-00001", []domain.Item{beans}, "")
	require.NoError(t, err, "an idempotent retry is not refused")
	assert.Equal(t, first.ID, again.ID)

	e.place(t, bob, "key-00001", beans)
	assert.Equal(t, 3, e.count(t, "orders"))
}

// Bad requests are refused before the limiter, so they spend nothing.
func TestInvalidOrdersDoNotSpendTheLimit(t *testing.T) {
	e := newEnv(t)
	e.svc.SetLimiter(memoryLimiter{ratelimit.NewMemory(ratelimit.Limit{Rate: 1.0 / 60, Burst: 1})})
	_, err := e.svc.CreateOrder(t.Context(), alice, "key-00001", nil, "")
	require.ErrorIs(t, err, errkind.Invalid)
	e.place(t, alice, "key-00001", domain.Item{ProductID: "beans", Quantity: 1})
}
