package domain_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/mock/gomock"

	"github.com/slipway-dev/slipway/platform/errkind"
	"github.com/slipway-dev/slipway/services/payment/internal/domain"
	"github.com/slipway-dev/slipway/services/payment/internal/domain/mock"
)

var (
	alice   = domain.Actor{Subject: "user-alice", Role: domain.RoleCustomer}
	bob     = domain.Actor{Subject: "user-bob", Role: domain.RoleCustomer}
	admin   = domain.Actor{Subject: "user-admin", Role: domain.RoleAdmin}
	service = domain.Actor{Subject: "svc-order", Role: domain.RoleService}
)

// fieldOf is the field an Invalid error names, "" when it names none.
func fieldOf(t *testing.T, err error) string {
	t.Helper()
	require.ErrorIs(t, err, domain.ErrInvalid)
	var fe *errkind.FieldError
	if !errors.As(err, &fe) {
		return ""
	}
	return fe.Field
}

func TestCreate(t *testing.T) {
	t.Run("stores a payment owned by the caller", func(t *testing.T) {
		store := mock.NewMockPaymentStore(gomock.NewController(t))
		var stored domain.Payment
		store.EXPECT().Create(gomock.Any(), gomock.Any()).DoAndReturn(func(_ context.Context, payment domain.Payment) error {
			stored = payment
			return nil
		})
		got, err := domain.NewPaymentService(store).Create(t.Context(), alice, "  first  ")
		require.NoError(t, err)
		assert.Equal(t, stored, got, "the answer is what was stored")
		assert.Equal(t, alice.Subject, got.OwnerID)
		assert.Equal(t, "first", got.Name, "the name is trimmed")
		assert.Len(t, got.ID, 36, "a UUID")
		assert.False(t, got.CreatedAt.IsZero())
		assert.Zero(t, got.CreatedAt.Nanosecond()%1000, "microseconds, as PostgreSQL keeps them")
	})
	invalid := []struct {
		name, value, field string
	}{
		{"a blank name", "   ", "name"},
		{"a name too long", strings.Repeat("x", 101), "name"},
		{"a name that is not UTF-8", "\xff", "name"},
	}
	for _, tt := range invalid {
		t.Run(tt.name+" is refused before the store", func(t *testing.T) {
			store := mock.NewMockPaymentStore(gomock.NewController(t)) // no call expected
			_, err := domain.NewPaymentService(store).Create(t.Context(), alice, tt.value)
			assert.Equal(t, tt.field, fieldOf(t, err))
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
			store := mock.NewMockPaymentStore(gomock.NewController(t))
			_, err := domain.NewPaymentService(store).Create(t.Context(), tt.actor, "first")
			assert.ErrorIs(t, err, tt.want)
		})
	}
	t.Run("a store failure is returned with context", func(t *testing.T) {
		store := mock.NewMockPaymentStore(gomock.NewController(t))
		boom := errors.New("disk full")
		store.EXPECT().Create(gomock.Any(), gomock.Any()).Return(boom)
		_, err := domain.NewPaymentService(store).Create(t.Context(), alice, "first")
		assert.ErrorIs(t, err, boom)
		assert.ErrorContains(t, err, "create payment")
	})
}

func TestGet(t *testing.T) {
	owned := domain.Payment{ID: "0190a5f0-0000-7000-8000-000000000001", OwnerID: alice.Subject, Name: "first"}
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
			store := mock.NewMockPaymentStore(gomock.NewController(t))
			if tt.stored == nil {
				store.EXPECT().Get(gomock.Any(), owned.ID).Return(owned, nil)
			} else {
				store.EXPECT().Get(gomock.Any(), owned.ID).Return(domain.Payment{}, tt.stored)
			}
			got, err := domain.NewPaymentService(store).Get(t.Context(), tt.actor, owned.ID)
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
	t.Run("an empty id is refused before the store", func(t *testing.T) {
		store := mock.NewMockPaymentStore(gomock.NewController(t))
		_, err := domain.NewPaymentService(store).Get(t.Context(), alice, "")
		assert.Equal(t, "id", fieldOf(t, err))
	})
	t.Run("no caller is Unauthenticated", func(t *testing.T) {
		store := mock.NewMockPaymentStore(gomock.NewController(t))
		_, err := domain.NewPaymentService(store).Get(t.Context(), domain.Actor{}, owned.ID)
		assert.ErrorIs(t, err, domain.ErrUnauthenticated)
	})
}

func TestList(t *testing.T) {
	three := []domain.Payment{
		{ID: "id-1", OwnerID: alice.Subject, Name: "one"},
		{ID: "id-2", OwnerID: alice.Subject, Name: "two"},
		{ID: "id-3", OwnerID: alice.Subject, Name: "three"},
	}
	t.Run("pages through the caller's own with the page token", func(t *testing.T) {
		store := mock.NewMockPaymentStore(gomock.NewController(t))
		svc := domain.NewPaymentService(store)
		// A page of two asks for three: the extra row says more follow.
		store.EXPECT().ListByOwner(gomock.Any(), alice.Subject, "", 3).Return(three, nil)
		first, err := svc.List(t.Context(), alice, 2, "")
		require.NoError(t, err)
		assert.Equal(t, three[:2], first.Payments)
		require.NotEmpty(t, first.NextPageToken)

		store.EXPECT().ListByOwner(gomock.Any(), alice.Subject, "id-2", 3).Return(three[2:], nil)
		second, err := svc.List(t.Context(), alice, 2, first.NextPageToken)
		require.NoError(t, err)
		assert.Equal(t, three[2:], second.Payments)
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
			store := mock.NewMockPaymentStore(gomock.NewController(t))
			store.EXPECT().ListByOwner(gomock.Any(), bob.Subject, "", tt.wantLimit).Return(nil, nil)
			page, err := domain.NewPaymentService(store).List(t.Context(), bob, tt.pageSize, "")
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
			store := mock.NewMockPaymentStore(gomock.NewController(t))
			_, err := domain.NewPaymentService(store).List(t.Context(), alice, tt.pageSize, tt.token)
			assert.Equal(t, tt.field, fieldOf(t, err))
		})
	}
	t.Run("a service account is PermissionDenied", func(t *testing.T) {
		store := mock.NewMockPaymentStore(gomock.NewController(t))
		_, err := domain.NewPaymentService(store).List(t.Context(), service, 0, "")
		assert.ErrorIs(t, err, domain.ErrPermissionDenied)
	})
}
