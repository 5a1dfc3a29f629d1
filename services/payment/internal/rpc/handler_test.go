package rpc

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"

	paymentv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/payment/v1"
	"github.com/slipway-dev/slipway/services/payment/internal/domain"
)

func TestEveryStateHasItsAPIState(t *testing.T) {
	for _, s := range []domain.State{domain.StatePending, domain.StateAuthorized, domain.StateCaptured,
		domain.StateVoided, domain.StateRefunded, domain.StateDeclined} {
		got := toProto(domain.Payment{State: s}).GetState()
		assert.NotEqual(t, paymentv1.PaymentState_PAYMENT_STATE_UNSPECIFIED, got, s)
		assert.Equal(t, "PAYMENT_STATE_"+string(s), got.String())
	}
}

func TestStatusOfADeclineCarriesTheReasonAndCode(t *testing.T) {
	err := status(fmt.Errorf("authorize order o-1: %w", &domain.DeclineError{Code: "expired_card", Message: "Your card has expired."}))
	st := grpcstatus.Convert(err)
	assert.Equal(t, codes.FailedPrecondition, st.Code())
	assert.Equal(t, "Your card has expired.", st.Message())
	require.Len(t, st.Details(), 1)
	info, ok := st.Details()[0].(*errdetails.ErrorInfo)
	require.True(t, ok, "%T", st.Details()[0])
	assert.Equal(t, "PAYMENT_DECLINED", info.GetReason())
	assert.Equal(t, "expired_card", info.GetMetadata()["decline_code"])
}

func TestStatusOfOtherErrorsIsTheServersMapping(t *testing.T) {
	tests := []struct {
		err  error
		want codes.Code
	}{
		{fmt.Errorf("order o-1 already has a payment: %w", domain.ErrFailedPrecondition), codes.FailedPrecondition},
		{fmt.Errorf("payment p: %w", domain.ErrNotFound), codes.NotFound},
		{domain.ErrUnavailable, codes.Unavailable},
		{errors.New("disk on fire"), codes.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.want.String(), func(t *testing.T) {
			st := grpcstatus.Convert(status(tt.err))
			assert.Equal(t, tt.want, st.Code())
			for _, d := range st.Details() {
				_, isInfo := d.(*errdetails.ErrorInfo)
				assert.False(t, isInfo, "only a decline carries an ErrorInfo")
			}
		})
	}
}
