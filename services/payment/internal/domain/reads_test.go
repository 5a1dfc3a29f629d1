package domain_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/mock/gomock"

	"github.com/slipway-dev/slipway/platform/errkind/errkindtest"
	"github.com/slipway-dev/slipway/services/payment/internal/domain"
	"github.com/slipway-dev/slipway/services/payment/internal/domain/mock"
)

var (
	alice   = domain.Actor{Subject: "user-alice", Role: domain.RoleCustomer}
	bob     = domain.Actor{Subject: "user-bob", Role: domain.RoleCustomer}
	admin   = domain.Actor{Subject: "user-root", Role: domain.RoleAdmin}
	service = domain.Actor{Subject: "order", Role: domain.RoleService}
)

// readService is the service over a scripted store; reads never reach the
// provider.
func readService(t *testing.T) (*domain.PaymentService, *mock.MockPaymentStore) {
	t.Helper()
	ctrl := gomock.NewController(t)
	st := mock.NewMockPaymentStore(ctrl)
	return domain.NewPaymentService(st, mock.NewMockProvider(ctrl)), st
}

func TestGet(t *testing.T) {
	owned := domain.Payment{ID: "0190a5f0-0000-7000-8000-000000000001", OrderID: "o-1", UserID: alice.Subject, State: domain.StateAuthorized}
	tests := []struct {
		name   string
		actor  domain.Actor
		stored error // what the store answers; nil: owned
		want   error
	}{
		{name: "the owner reads it", actor: alice},
		{name: "an admin reads anyone's", actor: admin},
		{name: "another user's is NotFound", actor: bob, want: domain.ErrNotFound},
		{name: "a missing one is NotFound", actor: alice, stored: domain.ErrNotFound, want: domain.ErrNotFound},
		{name: "a store failure is not NotFound", actor: alice, stored: errors.New("connection reset"), want: errors.New("connection reset")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc, st := readService(t)
			if tt.stored == nil {
				st.EXPECT().Get(gomock.Any(), owned.ID).Return(owned, nil)
			} else {
				st.EXPECT().Get(gomock.Any(), owned.ID).Return(domain.Payment{}, tt.stored)
			}
			got, err := svc.Get(t.Context(), tt.actor, owned.ID)
			switch {
			case tt.want == nil:
				require.NoError(t, err)
				assert.Equal(t, owned, got)
			case errors.Is(tt.want, domain.ErrNotFound):
				assert.ErrorIs(t, err, domain.ErrNotFound)
			default:
				require.Error(t, err)
				assert.NotErrorIs(t, err, domain.ErrNotFound)
				assert.ErrorContains(t, err, tt.want.Error())
			}
		})
	}
	callers := []struct {
		name  string
		actor domain.Actor
		want  error
	}{
		{"no caller is Unauthenticated", domain.Actor{}, domain.ErrUnauthenticated},
		{"a service account is PermissionDenied", service, domain.ErrPermissionDenied},
	}
	for _, tt := range callers {
		t.Run(tt.name, func(t *testing.T) {
			svc, _ := readService(t) // no store call expected
			_, err := svc.Get(t.Context(), tt.actor, owned.ID)
			assert.ErrorIs(t, err, tt.want)
		})
	}
	t.Run("an empty id is refused before the store", func(t *testing.T) {
		svc, _ := readService(t)
		_, err := svc.Get(t.Context(), alice, "")
		errkindtest.AssertFieldError(t, err, "id")
	})
}

func TestListMine(t *testing.T) {
	newestFirst := []domain.Payment{
		{ID: "id-3", UserID: alice.Subject},
		{ID: "id-2", UserID: alice.Subject},
		{ID: "id-1", UserID: alice.Subject},
	}
	t.Run("pages through the caller's own with the page token", func(t *testing.T) {
		svc, st := readService(t)
		// A page of two asks for three: the extra row says more follow.
		st.EXPECT().ListByUser(gomock.Any(), alice.Subject, "", 3).Return(newestFirst, nil)
		first, err := svc.ListMine(t.Context(), alice, 2, "")
		require.NoError(t, err)
		assert.Equal(t, newestFirst[:2], first.Payments)
		require.NotEmpty(t, first.NextPageToken)

		st.EXPECT().ListByUser(gomock.Any(), alice.Subject, "id-2", 3).Return(newestFirst[2:], nil)
		second, err := svc.ListMine(t.Context(), alice, 2, first.NextPageToken)
		require.NoError(t, err)
		assert.Equal(t, newestFirst[2:], second.Payments)
		assert.Empty(t, second.NextPageToken, "the last page")
	})
	sizes := []struct {
		name      string
		pageSize  int
		wantLimit int
	}{
		{"page size 0 is the default", 0, domain.DefaultPageSize + 1},
		{"a page size above the maximum is capped", domain.MaxPageSize + 50, domain.MaxPageSize + 1},
	}
	for _, tt := range sizes {
		t.Run(tt.name, func(t *testing.T) {
			svc, st := readService(t)
			st.EXPECT().ListByUser(gomock.Any(), bob.Subject, "", tt.wantLimit).Return(nil, nil)
			page, err := svc.ListMine(t.Context(), bob, tt.pageSize, "")
			require.NoError(t, err)
			assert.Empty(t, page.Payments)
			assert.Empty(t, page.NextPageToken)
		})
	}
	invalid := []struct {
		name     string
		pageSize int
		token    string
		field    string
	}{
		{"a negative page size", -1, "", "page_size"},
		{"a token that is not base64", 0, "not a token!", "page_token"},
		{"a token too long", 0, strings.Repeat("A", 600), "page_token"},
	}
	for _, tt := range invalid {
		t.Run(tt.name+" is refused before the store", func(t *testing.T) {
			svc, _ := readService(t)
			_, err := svc.ListMine(t.Context(), alice, tt.pageSize, tt.token)
			errkindtest.AssertFieldError(t, err, tt.field)
		})
	}
	t.Run("a service account is PermissionDenied", func(t *testing.T) {
		svc, _ := readService(t)
		_, err := svc.ListMine(t.Context(), service, 0, "")
		assert.ErrorIs(t, err, domain.ErrPermissionDenied)
	})
}
