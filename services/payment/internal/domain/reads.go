package domain

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/slipway-dev/slipway/platform/errkind"
)

// Paging limits of ListMine.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
	maxPageTokenLen = 512
)

// Get returns the payment id when actor's order it pays for; an admin may
// read any. Another user's payment is ErrNotFound, as a missing one, so
// ids reveal nothing.
func (s *PaymentService) Get(ctx context.Context, actor Actor, id string) (Payment, error) {
	if err := checkActor(actor); err != nil {
		return Payment{}, err
	}
	if err := checkID("id", id); err != nil {
		return Payment{}, err
	}
	payment, err := s.store.Get(ctx, id)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Payment{}, fmt.Errorf("get payment %s: %w", id, err)
	}
	if err != nil || (payment.UserID != actor.Subject && actor.Role != RoleAdmin) {
		return Payment{}, fmt.Errorf("payment %s: %w", id, ErrNotFound)
	}
	return payment, nil
}

// PaymentPage is one page of a user's payments.
type PaymentPage struct {
	Payments []Payment
	// NextPageToken is "" on the last page.
	NextPageToken string
}

// ListMine pages through actor's own payments, newest first. pageSize 0
// means DefaultPageSize and anything above MaxPageSize is capped; pageToken
// is the NextPageToken of the previous page, "" for the first.
func (s *PaymentService) ListMine(ctx context.Context, actor Actor, pageSize int, pageToken string) (PaymentPage, error) {
	if err := checkActor(actor); err != nil {
		return PaymentPage{}, err
	}
	switch {
	case pageSize < 0:
		return PaymentPage{}, errkind.Field("page_size", "must not be negative")
	case pageSize == 0:
		pageSize = DefaultPageSize
	case pageSize > MaxPageSize:
		pageSize = MaxPageSize
	}
	beforeID, err := decodePageToken(pageToken)
	if err != nil {
		return PaymentPage{}, err
	}
	// One extra row tells whether another page follows without a count query.
	payments, err := s.store.ListByUser(ctx, actor.Subject, beforeID, pageSize+1)
	if err != nil {
		return PaymentPage{}, fmt.Errorf("list payments of user %s: %w", actor.Subject, err)
	}
	page := PaymentPage{Payments: payments}
	if len(payments) > pageSize {
		page.Payments = payments[:pageSize]
		page.NextPageToken = encodePageToken(page.Payments[pageSize-1].ID)
	}
	return page, nil
}

// encodePageToken makes the opaque token that resumes a listing after id.
func encodePageToken(id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(id))
}

func decodePageToken(token string) (string, error) {
	if token == "" {
		return "", nil
	}
	bad := errkind.Field("page_token", "not a next_page_token from a previous page")
	if len(token) > maxPageTokenLen {
		return "", bad
	}
	id, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || checkID("page_token", string(id)) != nil {
		return "", bad
	}
	return string(id), nil
}

// checkActor refuses a call with no authenticated user, and a caller whose
// role has no payments.
func checkActor(a Actor) error {
	switch {
	case a.Subject == "":
		return fmt.Errorf("no authenticated user: %w", ErrUnauthenticated)
	case a.Role != RoleCustomer && a.Role != RoleAdmin:
		return fmt.Errorf("role %q has no payments; they belong to customer and admin accounts: %w", a.Role, ErrPermissionDenied)
	}
	return nil
}

func checkID(field, id string) error {
	switch {
	case id == "":
		return errkind.Field(field, "is required")
	case len(id) > maxIDLen:
		return errkind.Field(field, fmt.Sprintf("must be at most %d bytes", maxIDLen))
	}
	return nil
}
