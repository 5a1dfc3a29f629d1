package domain_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/mock/gomock"

	"github.com/slipway-dev/slipway/platform/errkind/errkindtest"
	platformstore "github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/platform/store/storetest"
	"github.com/slipway-dev/slipway/services/payment/internal/domain"
	"github.com/slipway-dev/slipway/services/payment/internal/domain/mock"
	"github.com/slipway-dev/slipway/services/payment/internal/provider"
	"github.com/slipway-dev/slipway/services/payment/internal/store"
)

var usd1999 = domain.Money{Currency: "USD", AmountMinor: 1999}

// fixture is the service over a real SQLite store (the domain's own,
// which a test runs rather than mocks) and a scripted provider (the
// boundary, whose failures a test must script).
type fixture struct {
	svc   *domain.PaymentService
	store *store.Payments
	psp   *mock.MockProvider
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	db := storetest.Open(t, platformstore.SQLite)
	require.NoError(t, db.Migrate(t.Context(), store.Migrations()))
	psp := mock.NewMockProvider(gomock.NewController(t))
	psp.EXPECT().Name().Return("sandbox").AnyTimes()
	payments := store.NewPayments(db)
	return fixture{svc: domain.NewPaymentService(payments, psp), store: payments, psp: psp}
}

func authorizeReq(order string) domain.AuthorizeRequest {
	return domain.AuthorizeRequest{OrderID: order, UserID: "user-alice", Amount: usd1999, PaymentMethod: "pm_card_visa", IdempotencyKey: order + ":authorize"}
}

// pspRequest is what the provider is asked for r.
func pspRequest(r domain.AuthorizeRequest) provider.AuthorizeRequest {
	return provider.AuthorizeRequest{IdempotencyKey: r.IdempotencyKey, OrderID: r.OrderID, UserID: r.UserID,
		Amount: r.Amount.AmountMinor, Currency: r.Amount.Currency, PaymentMethod: r.PaymentMethod}
}

// stored is the order's payment as the store holds it.
func (f fixture) stored(t *testing.T, order string) domain.Payment {
	t.Helper()
	p, err := f.store.GetByOrder(t.Context(), order)
	require.NoError(t, err)
	return p
}

// authorized authorizes order through the provider as ref.
func (f fixture) authorized(t *testing.T, order, ref string) domain.Payment {
	t.Helper()
	r := authorizeReq(order)
	f.psp.EXPECT().Authorize(gomock.Any(), pspRequest(r)).Return(provider.Authorization{Ref: ref, Status: provider.StatusAuthorized}, nil)
	p, err := f.svc.Authorize(t.Context(), r)
	require.NoError(t, err)
	return p
}

func TestAuthorizeRefusesInvalidRequestsBeforeTheStore(t *testing.T) {
	tests := []struct {
		name   string
		change func(*domain.AuthorizeRequest)
		field  string
	}{
		{"no order", func(r *domain.AuthorizeRequest) { r.OrderID = "" }, "order_id"},
		{"an order id too long", func(r *domain.AuthorizeRequest) { r.OrderID = string(make([]byte, 65)) }, "order_id"},
		{"no user", func(r *domain.AuthorizeRequest) { r.UserID = "" }, "user_id"},
		{"a zero amount", func(r *domain.AuthorizeRequest) { r.Amount.AmountMinor = 0 }, "amount.amount_minor"},
		{"a negative amount", func(r *domain.AuthorizeRequest) { r.Amount.AmountMinor = -1 }, "amount.amount_minor"},
		{"no currency", func(r *domain.AuthorizeRequest) { r.Amount.Currency = "" }, "amount.currency"},
		{"a currency of digits", func(r *domain.AuthorizeRequest) { r.Amount.Currency = "U5D" }, "amount.currency"},
		{"a payment method with spaces", func(r *domain.AuthorizeRequest) { r.PaymentMethod = "pm card" }, "payment_method"},
		{"no idempotency key", func(r *domain.AuthorizeRequest) { r.IdempotencyKey = " " }, "idempotency_key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctrl := gomock.NewController(t) // no call expected on either
			svc := domain.NewPaymentService(mock.NewMockPaymentStore(ctrl), mock.NewMockProvider(ctrl))
			r := authorizeReq("o-1")
			tt.change(&r)
			_, err := svc.Authorize(t.Context(), r)
			errkindtest.AssertFieldError(t, err, tt.field)
		})
	}
}

func TestAuthorize(t *testing.T) {
	t.Run("holds the amount and stores the payment AUTHORIZED", func(t *testing.T) {
		f := newFixture(t)
		p := f.authorized(t, "o-1", "pi_1")
		assert.Equal(t, domain.StateAuthorized, p.State)
		assert.Equal(t, "pi_1", p.ProviderRef)
		assert.Equal(t, "sandbox", p.Provider)
		assert.Equal(t, usd1999, p.Amount)
		assert.Equal(t, "user-alice", p.UserID)
		assert.Equal(t, p, f.stored(t, "o-1"))
	})
	t.Run("a lower-case currency is the same money", func(t *testing.T) {
		f := newFixture(t)
		r := authorizeReq("o-1")
		r.Amount.Currency = "usd"
		f.psp.EXPECT().Authorize(gomock.Any(), pspRequest(authorizeReq("o-1"))).Return(provider.Authorization{Ref: "pi_1", Status: provider.StatusAuthorized}, nil)
		p, err := f.svc.Authorize(t.Context(), r)
		require.NoError(t, err)
		assert.Equal(t, "USD", p.Amount.Currency)
	})
	t.Run("the same request again returns the payment without asking the provider", func(t *testing.T) {
		f := newFixture(t)
		first := f.authorized(t, "o-1", "pi_1") // the provider is asked once
		again, err := f.svc.Authorize(t.Context(), authorizeReq("o-1"))
		require.NoError(t, err)
		assert.Equal(t, first, again)
	})
	t.Run("another amount or payment method for the order is FailedPrecondition", func(t *testing.T) {
		f := newFixture(t)
		f.authorized(t, "o-1", "pi_1")
		other := authorizeReq("o-1")
		other.Amount.AmountMinor = 500
		_, err := f.svc.Authorize(t.Context(), other)
		require.ErrorIs(t, err, domain.ErrFailedPrecondition)
		other = authorizeReq("o-1")
		other.PaymentMethod = "pm_card_amex"
		_, err = f.svc.Authorize(t.Context(), other)
		require.ErrorIs(t, err, domain.ErrFailedPrecondition)
		assert.Equal(t, domain.StateAuthorized, f.stored(t, "o-1").State, "the payment is untouched")
	})
	t.Run("a decline is a DeclineError and stores the payment DECLINED; a repeat declines again unasked", func(t *testing.T) {
		f := newFixture(t)
		r := authorizeReq("o-1")
		r.PaymentMethod = "pm_card_chargeDeclinedInsufficientFunds"
		f.psp.EXPECT().Authorize(gomock.Any(), pspRequest(r)).
			Return(provider.Authorization{}, fmt.Errorf("sandbox: %w", &provider.DeclineError{Code: "insufficient_funds", Message: "Your card has insufficient funds.", Ref: "pi_d"}))
		for range 2 {
			_, err := f.svc.Authorize(t.Context(), r)
			var decline *domain.DeclineError
			require.ErrorAs(t, err, &decline)
			assert.Equal(t, "insufficient_funds", decline.Code)
			assert.Equal(t, "Your card has insufficient funds.", decline.Message)
			assert.ErrorIs(t, err, domain.ErrFailedPrecondition)
		}
		p := f.stored(t, "o-1")
		assert.Equal(t, domain.StateDeclined, p.State)
		assert.Equal(t, "insufficient_funds", p.DeclineCode)
		assert.Equal(t, "pi_d", p.ProviderRef)
	})
	t.Run("a payment method the provider does not know is declined as invalid_payment_method", func(t *testing.T) {
		f := newFixture(t)
		r := authorizeReq("o-1")
		r.PaymentMethod = "pm_card_nonsense"
		f.psp.EXPECT().Authorize(gomock.Any(), pspRequest(r)).Return(provider.Authorization{}, fmt.Errorf("%w: no such payment method", provider.ErrInvalidRequest))
		_, err := f.svc.Authorize(t.Context(), r)
		var decline *domain.DeclineError
		require.ErrorAs(t, err, &decline)
		assert.Equal(t, domain.DeclineInvalidPaymentMethod, decline.Code)
		assert.Equal(t, domain.StateDeclined, f.stored(t, "o-1").State)
	})
	for _, failure := range []error{provider.ErrTransient, provider.ErrOutcomeUnknown} {
		t.Run(failure.Error()+" is Unavailable, the payment stays PENDING, and a retry settles it with the stored key", func(t *testing.T) {
			f := newFixture(t)
			first := authorizeReq("o-1")
			gomock.InOrder(
				f.psp.EXPECT().Authorize(gomock.Any(), pspRequest(first)).Return(provider.Authorization{}, fmt.Errorf("sandbox: %w", failure)),
				// The retry carries another key; the provider is asked with the first.
				f.psp.EXPECT().Authorize(gomock.Any(), pspRequest(first)).Return(provider.Authorization{Ref: "pi_1", Status: provider.StatusAuthorized}, nil),
			)
			_, err := f.svc.Authorize(t.Context(), first)
			require.ErrorIs(t, err, domain.ErrUnavailable)
			assert.Equal(t, domain.StatePending, f.stored(t, "o-1").State)

			retry := first
			retry.IdempotencyKey = "o-1:authorize:retry"
			p, err := f.svc.Authorize(t.Context(), retry)
			require.NoError(t, err)
			assert.Equal(t, domain.StateAuthorized, p.State)
			assert.Equal(t, "o-1:authorize", p.IdempotencyKey)
		})
	}
	t.Run("a provider that has not decided yet is Unavailable and keeps the ref", func(t *testing.T) {
		f := newFixture(t)
		r := authorizeReq("o-1")
		f.psp.EXPECT().Authorize(gomock.Any(), pspRequest(r)).Return(provider.Authorization{Ref: "pi_p", Status: provider.StatusPending}, nil)
		_, err := f.svc.Authorize(t.Context(), r)
		require.ErrorIs(t, err, domain.ErrUnavailable)
		p := f.stored(t, "o-1")
		assert.Equal(t, domain.StatePending, p.State)
		assert.Equal(t, "pi_p", p.ProviderRef)
	})
	t.Run("a payment a crash left PENDING is settled by the next request", func(t *testing.T) {
		f := newFixture(t)
		r := authorizeReq("o-1")
		crashed := domain.Payment{ID: "0190a5f0-0000-7000-8000-000000000001", OrderID: "o-1", UserID: r.UserID, Amount: r.Amount,
			State: domain.StatePending, Provider: "sandbox", PaymentMethod: r.PaymentMethod, IdempotencyKey: r.IdempotencyKey}
		require.NoError(t, f.store.Create(t.Context(), crashed))
		f.psp.EXPECT().Authorize(gomock.Any(), pspRequest(r)).Return(provider.Authorization{Ref: "pi_1", Status: provider.StatusAuthorized}, nil)
		p, err := f.svc.Authorize(t.Context(), r)
		require.NoError(t, err)
		assert.Equal(t, crashed.ID, p.ID)
		assert.Equal(t, domain.StateAuthorized, p.State)
	})
	t.Run("a permanent provider failure is neither Unavailable nor a decline", func(t *testing.T) {
		f := newFixture(t)
		r := authorizeReq("o-1")
		f.psp.EXPECT().Authorize(gomock.Any(), pspRequest(r)).Return(provider.Authorization{}, provider.ErrIdempotencyKeyReused)
		_, err := f.svc.Authorize(t.Context(), r)
		require.ErrorIs(t, err, provider.ErrIdempotencyKeyReused)
		assert.NotErrorIs(t, err, domain.ErrUnavailable)
		var decline *domain.DeclineError
		assert.False(t, errors.As(err, &decline))
	})
}

func TestAuthorizeWithAScriptedStore(t *testing.T) {
	t.Run("a store failure is returned with context and the provider is not asked", func(t *testing.T) {
		ctrl := gomock.NewController(t)
		st, psp := mock.NewMockPaymentStore(ctrl), mock.NewMockProvider(ctrl)
		psp.EXPECT().Name().Return("sandbox").AnyTimes()
		boom := errors.New("disk full")
		st.EXPECT().GetByOrder(gomock.Any(), "o-1").Return(domain.Payment{}, domain.ErrNotFound)
		st.EXPECT().Create(gomock.Any(), gomock.Any()).Return(boom)
		_, err := domain.NewPaymentService(st, psp).Authorize(t.Context(), authorizeReq("o-1"))
		require.ErrorIs(t, err, boom)
		assert.ErrorContains(t, err, "authorize order o-1")
	})
	t.Run("when a concurrent request stored its answer first, that answer is returned", func(t *testing.T) {
		ctrl := gomock.NewController(t)
		st, psp := mock.NewMockPaymentStore(ctrl), mock.NewMockProvider(ctrl)
		psp.EXPECT().Name().Return("sandbox").AnyTimes()
		winner := domain.Payment{ID: "p-1", OrderID: "o-1", UserID: "user-alice", Amount: usd1999, State: domain.StateAuthorized, ProviderRef: "pi_1"}
		gomock.InOrder(
			st.EXPECT().GetByOrder(gomock.Any(), "o-1").Return(domain.Payment{}, domain.ErrNotFound),
			st.EXPECT().Create(gomock.Any(), gomock.Any()).Return(nil),
			st.EXPECT().VoidedUnpaid(gomock.Any(), "o-1").Return(false, nil),
			psp.EXPECT().Authorize(gomock.Any(), gomock.Any()).Return(provider.Authorization{Ref: "pi_1", Status: provider.StatusAuthorized}, nil),
			st.EXPECT().Transition(gomock.Any(), gomock.Any(), domain.StatePending).Return(domain.ErrConflict),
			st.EXPECT().GetByOrder(gomock.Any(), "o-1").Return(winner, nil),
		)
		p, err := domain.NewPaymentService(st, psp).Authorize(t.Context(), authorizeReq("o-1"))
		require.NoError(t, err)
		assert.Equal(t, winner, p)
	})
	t.Run("a payment another request created meanwhile is answered as a repeat", func(t *testing.T) {
		ctrl := gomock.NewController(t)
		st, psp := mock.NewMockPaymentStore(ctrl), mock.NewMockProvider(ctrl)
		psp.EXPECT().Name().Return("sandbox").AnyTimes()
		r := authorizeReq("o-1")
		theirs := domain.Payment{ID: "p-1", OrderID: "o-1", UserID: r.UserID, Amount: r.Amount, PaymentMethod: r.PaymentMethod, State: domain.StateAuthorized}
		gomock.InOrder(
			st.EXPECT().GetByOrder(gomock.Any(), "o-1").Return(domain.Payment{}, domain.ErrNotFound),
			st.EXPECT().Create(gomock.Any(), gomock.Any()).Return(fmt.Errorf("payment of order o-1: %w", domain.ErrAlreadyExists)),
			st.EXPECT().GetByOrder(gomock.Any(), "o-1").Return(theirs, nil),
		)
		p, err := domain.NewPaymentService(st, psp).Authorize(t.Context(), r)
		require.NoError(t, err)
		assert.Equal(t, theirs, p)
	})
}

func captureReq(order string) domain.CaptureRequest {
	return domain.CaptureRequest{OrderID: order, Amount: usd1999, IdempotencyKey: order + ":capture"}
}

func TestCapture(t *testing.T) {
	t.Run("captures an authorized payment once, however often asked", func(t *testing.T) {
		f := newFixture(t)
		f.authorized(t, "o-1", "pi_1")
		f.psp.EXPECT().Capture(gomock.Any(), "o-1:capture", "pi_1", int64(1999)).Return(nil).Times(1)
		for range 2 {
			p, err := f.svc.Capture(t.Context(), captureReq("o-1"))
			require.NoError(t, err)
			assert.Equal(t, domain.StateCaptured, p.State)
		}
		assert.Equal(t, domain.StateCaptured, f.stored(t, "o-1").State)
	})
	t.Run("another amount is FailedPrecondition and nothing is captured", func(t *testing.T) {
		f := newFixture(t)
		f.authorized(t, "o-1", "pi_1")
		r := captureReq("o-1")
		r.Amount.AmountMinor = 1000
		_, err := f.svc.Capture(t.Context(), r)
		require.ErrorIs(t, err, domain.ErrFailedPrecondition)
		assert.Equal(t, domain.StateAuthorized, f.stored(t, "o-1").State)
	})
	t.Run("an order with no payment is NotFound", func(t *testing.T) {
		f := newFixture(t)
		_, err := f.svc.Capture(t.Context(), captureReq("o-none"))
		require.ErrorIs(t, err, domain.ErrNotFound)
	})
	t.Run("a voided payment is FailedPrecondition", func(t *testing.T) {
		f := newFixture(t)
		f.authorized(t, "o-1", "pi_1")
		f.psp.EXPECT().Void(gomock.Any(), "o-1:void", "pi_1").Return(nil)
		_, _, err := f.svc.Void(t.Context(), domain.VoidRequest{OrderID: "o-1", IdempotencyKey: "o-1:void"})
		require.NoError(t, err)
		_, err = f.svc.Capture(t.Context(), captureReq("o-1"))
		require.ErrorIs(t, err, domain.ErrFailedPrecondition)
		assert.ErrorContains(t, err, "VOIDED")
	})
	t.Run("a transient provider failure is Unavailable and leaves it AUTHORIZED", func(t *testing.T) {
		f := newFixture(t)
		f.authorized(t, "o-1", "pi_1")
		f.psp.EXPECT().Capture(gomock.Any(), "o-1:capture", "pi_1", int64(1999)).Return(provider.ErrTransient)
		_, err := f.svc.Capture(t.Context(), captureReq("o-1"))
		require.ErrorIs(t, err, domain.ErrUnavailable)
		assert.Equal(t, domain.StateAuthorized, f.stored(t, "o-1").State)
	})
	t.Run("a refusal because a concurrent capture won returns the captured payment", func(t *testing.T) {
		f := newFixture(t)
		auth := f.authorized(t, "o-1", "pi_1")
		f.psp.EXPECT().Capture(gomock.Any(), "o-1:capture", "pi_1", int64(1999)).DoAndReturn(func(ctx context.Context, _, _ string, _ int64) error {
			won := auth
			won.State = domain.StateCaptured
			require.NoError(t, f.store.Transition(ctx, won, domain.StateAuthorized))
			return fmt.Errorf("%w: already captured", provider.ErrWrongState)
		})
		p, err := f.svc.Capture(t.Context(), captureReq("o-1"))
		require.NoError(t, err)
		assert.Equal(t, domain.StateCaptured, p.State)
	})
	t.Run("a PENDING payment is settled, then captured", func(t *testing.T) {
		f := newFixture(t)
		r := authorizeReq("o-1")
		gomock.InOrder(
			f.psp.EXPECT().Authorize(gomock.Any(), pspRequest(r)).Return(provider.Authorization{}, provider.ErrOutcomeUnknown),
			f.psp.EXPECT().Authorize(gomock.Any(), pspRequest(r)).Return(provider.Authorization{Ref: "pi_1", Status: provider.StatusAuthorized}, nil),
			f.psp.EXPECT().Capture(gomock.Any(), "o-1:capture", "pi_1", int64(1999)).Return(nil),
		)
		_, err := f.svc.Authorize(t.Context(), r)
		require.ErrorIs(t, err, domain.ErrUnavailable)
		p, err := f.svc.Capture(t.Context(), captureReq("o-1"))
		require.NoError(t, err)
		assert.Equal(t, domain.StateCaptured, p.State)
	})
}

func voidReq(order string) domain.VoidRequest {
	return domain.VoidRequest{OrderID: order, IdempotencyKey: order + ":void"}
}

func TestVoid(t *testing.T) {
	t.Run("an order with no payment is fine, with no payment", func(t *testing.T) {
		f := newFixture(t)
		_, ok, err := f.svc.Void(t.Context(), voidReq("o-none"))
		require.NoError(t, err)
		assert.False(t, ok)
	})
	t.Run("voids an authorized payment once, however often asked", func(t *testing.T) {
		f := newFixture(t)
		f.authorized(t, "o-1", "pi_1")
		f.psp.EXPECT().Void(gomock.Any(), "o-1:void", "pi_1").Return(nil).Times(1)
		for range 2 {
			p, ok, err := f.svc.Void(t.Context(), voidReq("o-1"))
			require.NoError(t, err)
			require.True(t, ok)
			assert.Equal(t, domain.StateVoided, p.State)
		}
	})
	t.Run("a captured payment is FailedPrecondition and the provider is not asked", func(t *testing.T) {
		f := newFixture(t)
		f.authorized(t, "o-1", "pi_1")
		f.psp.EXPECT().Capture(gomock.Any(), "o-1:capture", "pi_1", int64(1999)).Return(nil)
		_, err := f.svc.Capture(t.Context(), captureReq("o-1"))
		require.NoError(t, err)
		_, _, err = f.svc.Void(t.Context(), voidReq("o-1"))
		require.ErrorIs(t, err, domain.ErrFailedPrecondition)
		assert.Equal(t, domain.StateCaptured, f.stored(t, "o-1").State)
	})
	t.Run("a PENDING payment is settled with its key, then voided", func(t *testing.T) {
		f := newFixture(t)
		r := authorizeReq("o-1")
		gomock.InOrder(
			f.psp.EXPECT().Authorize(gomock.Any(), pspRequest(r)).Return(provider.Authorization{}, provider.ErrOutcomeUnknown),
			f.psp.EXPECT().Authorize(gomock.Any(), pspRequest(r)).Return(provider.Authorization{Ref: "pi_1", Status: provider.StatusAuthorized}, nil),
			f.psp.EXPECT().Void(gomock.Any(), "o-1:void", "pi_1").Return(nil),
		)
		_, err := f.svc.Authorize(t.Context(), r)
		require.ErrorIs(t, err, domain.ErrUnavailable)
		p, ok, err := f.svc.Void(t.Context(), voidReq("o-1"))
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, domain.StateVoided, p.State)
	})
	t.Run("a PENDING payment that settles as declined has nothing to void", func(t *testing.T) {
		f := newFixture(t)
		r := authorizeReq("o-1")
		gomock.InOrder(
			f.psp.EXPECT().Authorize(gomock.Any(), pspRequest(r)).Return(provider.Authorization{}, provider.ErrOutcomeUnknown),
			f.psp.EXPECT().Authorize(gomock.Any(), pspRequest(r)).Return(provider.Authorization{}, &provider.DeclineError{Code: "card_declined", Message: "Your card was declined."}),
		)
		_, err := f.svc.Authorize(t.Context(), r)
		require.ErrorIs(t, err, domain.ErrUnavailable)
		p, ok, err := f.svc.Void(t.Context(), voidReq("o-1"))
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, domain.StateDeclined, p.State)
	})
	t.Run("a PENDING payment the provider still cannot settle is abandoned, and never authorizes again", func(t *testing.T) {
		f := newFixture(t)
		r := authorizeReq("o-1")
		f.psp.EXPECT().Authorize(gomock.Any(), pspRequest(r)).Return(provider.Authorization{}, provider.ErrOutcomeUnknown).Times(2)
		_, err := f.svc.Authorize(t.Context(), r)
		require.ErrorIs(t, err, domain.ErrUnavailable)
		p, ok, err := f.svc.Void(t.Context(), voidReq("o-1"))
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, domain.StateVoided, p.State)
		assert.Equal(t, domain.StateVoided, f.stored(t, "o-1").State)

		_, err = f.svc.Authorize(t.Context(), r)
		require.ErrorIs(t, err, domain.ErrFailedPrecondition, "the same Authorize again must not hold the amount")
	})
	t.Run("a provider that never answers the settle leaves the Void time to abandon", func(t *testing.T) {
		f := newFixture(t)
		r := authorizeReq("o-1")
		f.psp.EXPECT().Authorize(gomock.Any(), pspRequest(r)).Return(provider.Authorization{}, provider.ErrOutcomeUnknown)
		_, err := f.svc.Authorize(t.Context(), r)
		require.ErrorIs(t, err, domain.ErrUnavailable)
		// pm_card_timeout: the provider answers only when the call's context ends.
		f.psp.EXPECT().Authorize(gomock.Any(), pspRequest(r)).DoAndReturn(
			func(ctx context.Context, _ provider.AuthorizeRequest) (provider.Authorization, error) {
				<-ctx.Done()
				return provider.Authorization{}, provider.ErrOutcomeUnknown
			})
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		p, ok, err := f.svc.Void(ctx, voidReq("o-1"))
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, domain.StateVoided, p.State)
	})
	t.Run("a void before the payment exists stops the authorization still on its way", func(t *testing.T) {
		f := newFixture(t)
		_, ok, err := f.svc.Void(t.Context(), voidReq("o-late"))
		require.NoError(t, err)
		assert.False(t, ok, "no payment to void yet")
		// The Authorize arrives after the void: the provider is never asked
		// (the mock provider expects no Authorize call).
		_, err = f.svc.Authorize(t.Context(), authorizeReq("o-late"))
		require.ErrorIs(t, err, domain.ErrFailedPrecondition)
		assert.Equal(t, domain.StateVoided, f.stored(t, "o-late").State)
	})
	t.Run("no idempotency key is refused", func(t *testing.T) {
		f := newFixture(t)
		_, _, err := f.svc.Void(t.Context(), domain.VoidRequest{OrderID: "o-1"})
		errkindtest.AssertFieldError(t, err, "idempotency_key")
	})
}

func refundReq(order string) domain.RefundRequest {
	return domain.RefundRequest{OrderID: order, Amount: usd1999, IdempotencyKey: order + ":refund"}
}

func TestRefund(t *testing.T) {
	captured := func(t *testing.T, f fixture) {
		t.Helper()
		f.authorized(t, "o-1", "pi_1")
		f.psp.EXPECT().Capture(gomock.Any(), "o-1:capture", "pi_1", int64(1999)).Return(nil)
		_, err := f.svc.Capture(t.Context(), captureReq("o-1"))
		require.NoError(t, err)
	}
	t.Run("refunds a captured payment once, however often asked", func(t *testing.T) {
		f := newFixture(t)
		captured(t, f)
		f.psp.EXPECT().Refund(gomock.Any(), "o-1:refund", "pi_1", int64(1999)).Return(nil).Times(1)
		for range 2 {
			p, err := f.svc.Refund(t.Context(), refundReq("o-1"))
			require.NoError(t, err)
			assert.Equal(t, domain.StateRefunded, p.State)
		}
	})
	t.Run("a payment never captured is FailedPrecondition", func(t *testing.T) {
		f := newFixture(t)
		f.authorized(t, "o-1", "pi_1")
		_, err := f.svc.Refund(t.Context(), refundReq("o-1"))
		require.ErrorIs(t, err, domain.ErrFailedPrecondition)
	})
	t.Run("another amount is FailedPrecondition", func(t *testing.T) {
		f := newFixture(t)
		captured(t, f)
		r := refundReq("o-1")
		r.Amount.AmountMinor = 1
		_, err := f.svc.Refund(t.Context(), r)
		require.ErrorIs(t, err, domain.ErrFailedPrecondition)
		assert.Equal(t, domain.StateCaptured, f.stored(t, "o-1").State)
	})
	t.Run("an outcome unknown is Unavailable and leaves it CAPTURED", func(t *testing.T) {
		f := newFixture(t)
		captured(t, f)
		f.psp.EXPECT().Refund(gomock.Any(), "o-1:refund", "pi_1", int64(1999)).Return(provider.ErrOutcomeUnknown)
		_, err := f.svc.Refund(t.Context(), refundReq("o-1"))
		require.ErrorIs(t, err, domain.ErrUnavailable)
		assert.Equal(t, domain.StateCaptured, f.stored(t, "o-1").State)
	})
	t.Run("an order with no payment is NotFound", func(t *testing.T) {
		f := newFixture(t)
		_, err := f.svc.Refund(t.Context(), refundReq("o-none"))
		require.ErrorIs(t, err, domain.ErrNotFound)
	})
}
