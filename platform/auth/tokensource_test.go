package auth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeLogin is a scripted UserService.Login: each call returns the next
// token, expiring ttl after the clock's now, or err when set.
type fakeLogin struct {
	clk   *clock
	ttl   time.Duration
	calls atomic.Int32
	gate  chan struct{} // when non-nil, each login waits for it

	mu  sync.Mutex
	err error
}

func (f *fakeLogin) login(ctx context.Context) (string, time.Time, error) {
	n := f.calls.Add(1)
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return "", time.Time{}, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return "", time.Time{}, f.err
	}
	return fmt.Sprintf("token-%d", n), f.clk.Now().Add(f.ttl), nil
}

func (f *fakeLogin) fail(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

func newTestTokenSource(f *fakeLogin) *LoginTokenSource {
	ts := NewLoginTokenSource(f.login)
	ts.now = f.clk.Now
	return ts
}

func TestLoginTokenSource(t *testing.T) {
	ctx := t.Context()

	t.Run("caches until 30s before expiry, then refreshes", func(t *testing.T) {
		f := &fakeLogin{clk: &clock{now: time.Now()}, ttl: 15 * time.Minute}
		ts := newTestTokenSource(f)

		for range 3 {
			token, err := ts.Token(ctx)
			require.NoError(t, err)
			assert.Equal(t, "token-1", token)
		}
		assert.EqualValues(t, 1, f.calls.Load(), "one login serves every call while the token is fresh")

		f.clk.Advance(15*time.Minute - RefreshBefore - time.Second)
		token, err := ts.Token(ctx)
		require.NoError(t, err)
		assert.Equal(t, "token-1", token, "31s before expiry the token is still used")

		f.clk.Advance(time.Second)
		token, err = ts.Token(ctx)
		require.NoError(t, err)
		assert.Equal(t, "token-2", token, "30s before expiry a new token is fetched")
		assert.EqualValues(t, 2, f.calls.Load())
	})

	t.Run("refreshes an expired token", func(t *testing.T) {
		f := &fakeLogin{clk: &clock{now: time.Now()}, ttl: time.Minute}
		ts := newTestTokenSource(f)
		_, err := ts.Token(ctx)
		require.NoError(t, err)

		f.clk.Advance(time.Hour)
		token, err := ts.Token(ctx)
		require.NoError(t, err)
		assert.Equal(t, "token-2", token)
	})

	t.Run("concurrent callers share one login", func(t *testing.T) {
		f := &fakeLogin{clk: &clock{now: time.Now()}, ttl: time.Hour, gate: make(chan struct{})}
		ts := newTestTokenSource(f)

		const callers = 20
		tokens := make([]string, callers)
		errs := make([]error, callers)
		var wg sync.WaitGroup
		for i := range callers {
			wg.Go(func() { tokens[i], errs[i] = ts.Token(ctx) })
		}
		require.Eventually(t, func() bool { return f.calls.Load() == 1 }, 5*time.Second, time.Millisecond)
		time.Sleep(20 * time.Millisecond) // let every caller reach the wait
		close(f.gate)
		wg.Wait()

		assert.EqualValues(t, 1, f.calls.Load())
		for i := range callers {
			require.NoError(t, errs[i])
			assert.Equal(t, "token-1", tokens[i])
		}
	})

	t.Run("a caller that gives up does not fail the shared login", func(t *testing.T) {
		f := &fakeLogin{clk: &clock{now: time.Now()}, ttl: time.Hour, gate: make(chan struct{})}
		ts := newTestTokenSource(f)

		impatient, cancel := context.WithCancel(ctx)
		cancel()
		_, err := ts.Token(impatient)
		require.ErrorIs(t, err, context.Canceled)

		close(f.gate)
		token, err := ts.Token(ctx)
		require.NoError(t, err)
		assert.Equal(t, "token-1", token)
		assert.EqualValues(t, 1, f.calls.Load(), "the second caller joined the login the first one started")
	})

	t.Run("errors propagate when no token is usable", func(t *testing.T) {
		f := &fakeLogin{clk: &clock{now: time.Now()}, ttl: time.Hour}
		down := errors.New("user service unavailable")
		f.fail(down)
		ts := newTestTokenSource(f)

		_, err := ts.Token(ctx)
		require.ErrorIs(t, err, down)
		assert.Contains(t, err.Error(), "auth: service login")

		_, err = ts.Token(ctx)
		require.ErrorIs(t, err, down, "within a second the failure is remembered")
		assert.EqualValues(t, 1, f.calls.Load(), "no login storm while the user service is down")

		f.clk.Advance(time.Second)
		f.fail(nil)
		token, err := ts.Token(ctx)
		require.NoError(t, err)
		assert.Equal(t, "token-2", token, "after the pause it logs in again")
	})

	t.Run("a failed refresh keeps the still-valid token", func(t *testing.T) {
		f := &fakeLogin{clk: &clock{now: time.Now()}, ttl: time.Hour}
		ts := newTestTokenSource(f)
		_, err := ts.Token(ctx)
		require.NoError(t, err)

		down := errors.New("user service unavailable")
		f.fail(down)
		f.clk.Advance(time.Hour - 10*time.Second)
		token, err := ts.Token(ctx)
		require.NoError(t, err)
		assert.Equal(t, "token-1", token, "10s of validity left: better than failing the call")

		f.clk.Advance(10 * time.Second)
		_, err = ts.Token(ctx)
		require.ErrorIs(t, err, down, "once expired, the error surfaces")
	})

	t.Run("rejects what a login must not return", func(t *testing.T) {
		clk := &clock{now: time.Now()}
		for name, fn := range map[string]LoginFunc{
			"empty token": func(context.Context) (string, time.Time, error) { return "", clk.Now().Add(time.Hour), nil },
			"expired token": func(context.Context) (string, time.Time, error) {
				return "t", clk.Now().Add(-time.Second), nil
			},
			"no expiry": func(context.Context) (string, time.Time, error) { return "t", time.Time{}, nil },
		} {
			t.Run(name, func(t *testing.T) {
				ts := NewLoginTokenSource(fn)
				ts.now = clk.Now
				_, err := ts.Token(ctx)
				assert.ErrorContains(t, err, "auth: service login")
			})
		}
	})
}
