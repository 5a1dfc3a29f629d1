package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/services/payment/internal/provider"
	"github.com/slipway-dev/slipway/services/payment/internal/provider/sandbox"
)

// newSandbox is a sandbox on ledger that answers at once, unless opts say
// otherwise.
func newSandbox(t *testing.T, ledger sandbox.Ledger, opts ...sandbox.Option) *sandbox.Provider {
	t.Helper()
	p, err := sandbox.New(ledger, append([]sandbox.Option{sandbox.WithLatency(sandbox.Latency{})}, opts...)...)
	require.NoError(t, err)
	return p
}

func authReq(key, pm string, amount int64) provider.AuthorizeRequest {
	return provider.AuthorizeRequest{IdempotencyKey: key, OrderID: "order-1", UserID: "user-1", Amount: amount, Currency: "USD", PaymentMethod: pm}
}

func authorize(t *testing.T, p *sandbox.Provider, key string, amount int64) string {
	t.Helper()
	a, err := p.Authorize(context.Background(), authReq(key, sandbox.CardVisa, amount))
	require.NoError(t, err)
	require.Equal(t, provider.StatusAuthorized, a.Status)
	return a.Ref
}

func TestEachTestCardAuthorizesOrFailsAsDocumented(t *testing.T) {
	tests := []struct {
		pm          string
		wantDecline string // "" for an authorization
		wantErr     error
	}{
		{pm: sandbox.CardVisa},
		{pm: sandbox.CardMastercard},
		{pm: sandbox.CardAmex},
		{pm: ""},
		{pm: sandbox.CardDeclined, wantDecline: "card_declined"},
		{pm: sandbox.CardInsufficientFunds, wantDecline: "insufficient_funds"},
		{pm: sandbox.CardFraudulent, wantDecline: "fraudulent"},
		{pm: sandbox.CardExpired, wantDecline: "expired_card"},
		{pm: sandbox.CardIncorrectCVC, wantDecline: "incorrect_cvc"},
		{pm: sandbox.CardAuthenticationRequired, wantDecline: "authentication_required"},
		{pm: "pm_card_doesNotExist", wantErr: provider.ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run("pm="+tt.pm, func(t *testing.T) {
			p := newSandbox(t, sandbox.NewMemoryLedger())
			a, err := p.Authorize(context.Background(), authReq("k-"+tt.pm, tt.pm, 1250))
			switch {
			case tt.wantErr != nil:
				require.ErrorIs(t, err, tt.wantErr)
				assert.False(t, provider.Retryable(err))
			case tt.wantDecline != "":
				d, ok := provider.IsDeclined(err)
				require.True(t, ok, "want a decline, got %v", err)
				assert.Equal(t, tt.wantDecline, d.Code)
				assert.NotEmpty(t, d.Message)
				assert.False(t, provider.Retryable(err))
			default:
				require.NoError(t, err)
				assert.Equal(t, provider.StatusAuthorized, a.Status)
				pay, err := p.Payment(context.Background(), a.Ref)
				require.NoError(t, err)
				assert.Equal(t, int64(1250), pay.Authorized)
				assert.Equal(t, "usd", pay.Currency, "currency is kept lower-case")
				wantPM := tt.pm
				if wantPM == "" {
					wantPM = sandbox.DefaultPaymentMethod
				}
				assert.Equal(t, wantPM, pay.PaymentMethod)
			}
		})
	}
}

func TestInvalidRequestsAreRefusedBeforeAnything(t *testing.T) {
	p := newSandbox(t, sandbox.NewMemoryLedger())
	ctx := context.Background()
	_, err := p.Authorize(ctx, authReq("", sandbox.CardVisa, 100))
	require.ErrorIs(t, err, provider.ErrInvalidRequest)
	_, err = p.Authorize(ctx, authReq("k", sandbox.CardVisa, 0))
	require.ErrorIs(t, err, provider.ErrInvalidRequest)
	require.ErrorIs(t, p.Capture(ctx, "", "pi_x", 0), provider.ErrInvalidRequest)
	require.ErrorIs(t, p.Refund(ctx, "k", "pi_x", -1), provider.ErrInvalidRequest)
	require.ErrorIs(t, p.Void(ctx, "k", ""), provider.ErrInvalidRequest)
}

func TestUnknownRefIsNotFound(t *testing.T) {
	forEachLedger(t, func(t *testing.T, open func() sandbox.Ledger) {
		p := newSandbox(t, open())
		ctx := context.Background()
		require.ErrorIs(t, p.Capture(ctx, "c1", "pi_nope", 0), provider.ErrNotFound)
		require.ErrorIs(t, p.Void(ctx, "v1", "pi_nope"), provider.ErrNotFound)
		require.ErrorIs(t, p.Refund(ctx, "r1", "pi_nope", 0), provider.ErrNotFound)
	})
}

func TestAuthorizeReplayReturnsTheFirstAuthorizationWithoutASecondHold(t *testing.T) {
	forEachLedger(t, func(t *testing.T, open func() sandbox.Ledger) {
		p := newSandbox(t, open())
		ctx := context.Background()
		first, err := p.Authorize(ctx, authReq("auth-1", sandbox.CardVisa, 500))
		require.NoError(t, err)
		again, err := p.Authorize(ctx, authReq("auth-1", sandbox.CardVisa, 500))
		require.NoError(t, err)
		assert.Equal(t, first, again, "the same key and parameters answer the first authorization")

		other, err := p.Authorize(ctx, authReq("auth-2", sandbox.CardVisa, 500))
		require.NoError(t, err)
		assert.NotEqual(t, first.Ref, other.Ref, "another key is another hold")
	})
}

func TestDeclineIsReplayedUnderItsKey(t *testing.T) {
	forEachLedger(t, func(t *testing.T, open func() sandbox.Ledger) {
		p := newSandbox(t, open())
		for range 2 {
			_, err := p.Authorize(context.Background(), authReq("declined-1", sandbox.CardInsufficientFunds, 500))
			d, ok := provider.IsDeclined(err)
			require.True(t, ok, "got %v", err)
			assert.Equal(t, "insufficient_funds", d.Code)
			assert.Equal(t, "Your card has insufficient funds.", d.Message)
		}
	})
}

func TestKeyReusedWithOtherParametersIsRefused(t *testing.T) {
	forEachLedger(t, func(t *testing.T, open func() sandbox.Ledger) {
		p := newSandbox(t, open())
		ctx := context.Background()
		ref := authorize(t, p, "auth-1", 500)

		_, err := p.Authorize(ctx, authReq("auth-1", sandbox.CardVisa, 501))
		require.ErrorIs(t, err, provider.ErrIdempotencyKeyReused, "another amount")
		assert.False(t, provider.Retryable(err))

		require.ErrorIs(t, p.Capture(ctx, "auth-1", ref, 0), provider.ErrIdempotencyKeyReused, "another operation")

		require.NoError(t, p.Capture(ctx, "cap-1", ref, 200))
		require.ErrorIs(t, p.Capture(ctx, "cap-1", ref, 300), provider.ErrIdempotencyKeyReused, "another capture amount")
	})
}

func TestPaymentLifecycle(t *testing.T) {
	forEachLedger(t, func(t *testing.T, open func() sandbox.Ledger) {
		ctx := context.Background()
		p := newSandbox(t, open())

		t.Run("capture twice with one key charges once", func(t *testing.T) {
			ref := authorize(t, p, "a-cap", 1000)
			require.NoError(t, p.Capture(ctx, "c-cap", ref, 0))
			require.NoError(t, p.Capture(ctx, "c-cap", ref, 0))
			pay, err := p.Payment(ctx, ref)
			require.NoError(t, err)
			assert.Equal(t, provider.StatusCaptured, pay.Status)
			assert.Equal(t, int64(1000), pay.Captured, "0 captures all")
			require.ErrorIs(t, p.Capture(ctx, "c-cap-2", ref, 0), provider.ErrWrongState, "a second capture with another key")
			require.ErrorIs(t, p.Void(ctx, "v-cap", ref), provider.ErrWrongState, "a captured payment cannot be voided")
		})

		t.Run("partial capture", func(t *testing.T) {
			ref := authorize(t, p, "a-part", 1000)
			require.ErrorIs(t, p.Capture(ctx, "c-part-over", ref, 1001), provider.ErrInvalidRequest)
			require.NoError(t, p.Capture(ctx, "c-part", ref, 600))
			pay, err := p.Payment(ctx, ref)
			require.NoError(t, err)
			assert.Equal(t, int64(600), pay.Captured)
		})

		t.Run("void, then capture is refused", func(t *testing.T) {
			ref := authorize(t, p, "a-void", 1000)
			require.ErrorIs(t, p.Refund(ctx, "r-void-early", ref, 0), provider.ErrWrongState, "nothing captured to refund")
			require.NoError(t, p.Void(ctx, "v-void", ref))
			require.NoError(t, p.Void(ctx, "v-void", ref), "a void replayed with its key")
			err := p.Capture(ctx, "c-void", ref, 0)
			require.ErrorIs(t, err, provider.ErrWrongState)
			assert.False(t, provider.Retryable(err))
			require.ErrorIs(t, p.Void(ctx, "v-void-2", ref), provider.ErrWrongState, "a second void with another key")
			pay, err := p.Payment(ctx, ref)
			require.NoError(t, err)
			assert.Equal(t, provider.StatusVoided, pay.Status)
			assert.Zero(t, pay.Captured)
		})

		t.Run("refunds add up to the captured amount and no more", func(t *testing.T) {
			ref := authorize(t, p, "a-ref", 1000)
			require.NoError(t, p.Capture(ctx, "c-ref", ref, 800))
			require.ErrorIs(t, p.Refund(ctx, "r-ref-over", ref, 801), provider.ErrInvalidRequest)
			require.NoError(t, p.Refund(ctx, "r-ref-1", ref, 300))
			require.NoError(t, p.Refund(ctx, "r-ref-1", ref, 300), "replayed: no second refund")
			pay, err := p.Payment(ctx, ref)
			require.NoError(t, err)
			assert.Equal(t, int64(300), pay.Refunded)
			assert.Equal(t, provider.StatusCaptured, pay.Status, "partly refunded is still captured")

			require.ErrorIs(t, p.Refund(ctx, "r-ref-2", ref, 501), provider.ErrInvalidRequest, "more than is left")
			require.NoError(t, p.Refund(ctx, "r-ref-3", ref, 0), "0 refunds what is left")
			pay, err = p.Payment(ctx, ref)
			require.NoError(t, err)
			assert.Equal(t, int64(800), pay.Refunded)
			assert.Equal(t, provider.StatusRefunded, pay.Status)
			require.ErrorIs(t, p.Refund(ctx, "r-ref-4", ref, 1), provider.ErrWrongState)
		})
	})
}

func TestAuthorizationSurvivesARestart(t *testing.T) {
	for _, k := range ledgerKinds() {
		if k.name == "memory" {
			continue // memory is lost with the process by design
		}
		t.Run(k.name, func(t *testing.T) {
			open := k.open(t)
			ctx := context.Background()
			before := newSandbox(t, open())
			a, err := before.Authorize(ctx, authReq("auth-restart", sandbox.CardVisa, 700))
			require.NoError(t, err)

			after := newSandbox(t, open()) // a new process: nothing shared but the database
			again, err := after.Authorize(ctx, authReq("auth-restart", sandbox.CardVisa, 700))
			require.NoError(t, err)
			assert.Equal(t, a, again, "the key is still answered")
			require.NoError(t, after.Capture(ctx, "cap-restart", a.Ref, 0))
			pay, err := after.Payment(ctx, a.Ref)
			require.NoError(t, err)
			assert.Equal(t, int64(700), pay.Captured)
			assert.Equal(t, "order-1", pay.OrderID)
			assert.Equal(t, "user-1", pay.UserID)
		})
	}
}

func TestConcurrentRequestsWithOneKeyHoldOnce(t *testing.T) {
	forEachLedger(t, func(t *testing.T, open func() sandbox.Ledger) {
		p := newSandbox(t, open())
		const n = 8
		refs := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				a, err := p.Authorize(context.Background(), authReq("auth-race", sandbox.CardVisa, 900))
				refs[i], errs[i] = a.Ref, err
			})
		}
		wg.Wait()
		for i := range n {
			require.NoError(t, errs[i])
			assert.Equal(t, refs[0], refs[i], "every racer gets the one hold")
		}
	})
}

func TestTransientCardFailsThenSucceedsWithTheSameKey(t *testing.T) {
	p := newSandbox(t, sandbox.NewMemoryLedger(), sandbox.WithTransientCardFailures(3))
	ctx := context.Background()
	r := authReq("auth-transient", sandbox.CardTransient, 400)
	for i := range 3 {
		_, err := p.Authorize(ctx, r)
		require.ErrorIs(t, err, provider.ErrTransient, "attempt %d", i+1)
		assert.True(t, provider.Retryable(err))
	}
	a, err := p.Authorize(ctx, r)
	require.NoError(t, err)
	assert.Equal(t, provider.StatusAuthorized, a.Status)
	again, err := p.Authorize(ctx, r)
	require.NoError(t, err)
	assert.Equal(t, a, again, "a replay after the success answers the stored authorization")

	_, err = p.Authorize(ctx, authReq("auth-transient-2", sandbox.CardTransient, 400))
	require.ErrorIs(t, err, provider.ErrTransient, "each key fails its own first attempts")
}

func TestTimeoutCardNeverAnswersBeforeTheDeadline(t *testing.T) {
	p := newSandbox(t, sandbox.NewMemoryLedger())
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := p.Authorize(ctx, authReq("auth-timeout", sandbox.CardTimeout, 400))
	assert.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond)
	require.ErrorIs(t, err, provider.ErrOutcomeUnknown)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.True(t, provider.Retryable(err))
}

func TestLatencyIsWaitedAndCancellationHonoured(t *testing.T) {
	const lat = 150 * time.Millisecond
	p := newSandbox(t, sandbox.NewMemoryLedger(), sandbox.WithLatency(sandbox.Latency{Median: lat, P99: lat}))

	start := time.Now()
	ref := authorize(t, p, "auth-slow", 100)
	assert.GreaterOrEqual(t, time.Since(start), lat, "the call waits its latency")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	start = time.Now()
	err := p.Capture(ctx, "cap-slow", ref, 0)
	assert.Less(t, time.Since(start), lat, "the call returns when its context ends")
	require.ErrorIs(t, err, provider.ErrOutcomeUnknown)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	require.NoError(t, p.Capture(context.Background(), "cap-slow", ref, 0), "a retry with the same key settles it")
	pay, err := p.Payment(context.Background(), ref)
	require.NoError(t, err)
	assert.Equal(t, provider.StatusCaptured, pay.Status)
}

func TestAnswerLostAfterTheEffectIsSettledByARetry(t *testing.T) {
	// 100 ms each way: a 150 ms deadline ends after the capture took effect
	// and before its answer came back.
	const lat = 200 * time.Millisecond
	p := newSandbox(t, sandbox.NewMemoryLedger(), sandbox.WithLatency(sandbox.Latency{Median: lat, P99: lat}))
	ref := authorize(t, p, "auth-lost", 100)

	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	err := p.Capture(ctx, "cap-lost", ref, 0)
	require.ErrorIs(t, err, provider.ErrOutcomeUnknown)
	pay, err := p.Payment(context.Background(), ref)
	require.NoError(t, err)
	assert.Equal(t, provider.StatusCaptured, pay.Status, "the capture happened although its answer was lost")

	require.NoError(t, p.Capture(context.Background(), "cap-lost", ref, 0), "the retry with the same key replays, not refuses")
}

func TestInjectedTransientRateIsRoughlyHonoured(t *testing.T) {
	const (
		calls = 4000
		rate  = 0.25
	)
	p := newSandbox(t, sandbox.NewMemoryLedger(), sandbox.WithTransientRate(rate), sandbox.WithSeed(42))
	failed := 0
	for i := range calls {
		_, err := p.Authorize(context.Background(), authReq(fmt.Sprintf("k-%d", i), sandbox.CardVisa, 100))
		switch {
		case errors.Is(err, provider.ErrTransient):
			failed++
		case err != nil:
			t.Fatalf("call %d: want success or a transient failure, got %v", i, err)
		}
	}
	// Binomial: sd = sqrt(n p (1-p)) ~ 27; allow five of them.
	assert.InDelta(t, rate*calls, failed, 140, "failed %d of %d", failed, calls)
}

func TestSeedMakesInjectedFailuresRepeatable(t *testing.T) {
	run := func() []bool {
		p := newSandbox(t, sandbox.NewMemoryLedger(), sandbox.WithTransientRate(0.5), sandbox.WithSeed(7))
		out := make([]bool, 50)
		for i := range out {
			_, err := p.Authorize(context.Background(), authReq(fmt.Sprintf("k-%d", i), sandbox.CardVisa, 100))
			out[i] = provider.IsTransient(err)
		}
		return out
	}
	assert.Equal(t, run(), run())
}

func TestNewRefusesBadFaultSettings(t *testing.T) {
	for name, opt := range map[string]sandbox.Option{
		"rate above one":     sandbox.WithTransientRate(1.5),
		"negative rate":      sandbox.WithTransientRate(-0.1),
		"p99 below median":   sandbox.WithLatency(sandbox.Latency{Median: 50 * time.Millisecond, P99: 10 * time.Millisecond}),
		"negative median":    sandbox.WithLatency(sandbox.Latency{Median: -time.Millisecond}),
		"negative card fail": sandbox.WithTransientCardFailures(-1),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := sandbox.New(sandbox.NewMemoryLedger(), opt)
			require.Error(t, err)
		})
	}
}
