package domain

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/slipway-dev/slipway/platform/errkind"
)

// Paging limits of List.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// Request limits the service enforces itself, so a caller that skips the
// edge's validation still cannot store nonsense.
const (
	maxNameLen      = 100 // characters
	maxIDLen        = 64
	maxPageTokenLen = 512
)

// PaymentService owns the payments: every operation acts for an
// actor, who sees only their own.
type PaymentService struct {
	store PaymentStore
	now   func() time.Time
	newID func() (uuid.UUID, error)
}

// NewPaymentService returns the service over store.
func NewPaymentService(store PaymentStore) *PaymentService {
	return &PaymentService{store: store, now: time.Now, newID: uuid.NewV7}
}

// Create stores a new payment named name, owned by actor.
func (s *PaymentService) Create(ctx context.Context, actor Actor, name string) (Payment, error) {
	if err := checkActor(actor); err != nil {
		return Payment{}, err
	}
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return Payment{}, errkind.Field("name", "must not be blank")
	case !utf8.ValidString(name):
		return Payment{}, errkind.Field("name", "must be valid UTF-8")
	case utf8.RuneCountInString(name) > maxNameLen:
		return Payment{}, errkind.Field("name", fmt.Sprintf("must be at most %d characters", maxNameLen))
	}
	id, err := s.newID()
	if err != nil {
		return Payment{}, fmt.Errorf("new payment id: %w", err)
	}
	// Microseconds: what PostgreSQL keeps, so a read returns what was stored.
	payment := Payment{ID: id.String(), OwnerID: actor.Subject, Name: name, CreatedAt: s.now().UTC().Truncate(time.Microsecond)}
	if err := s.store.Create(ctx, payment); err != nil {
		return Payment{}, fmt.Errorf("create payment %s: %w", payment.ID, err)
	}
	return payment, nil
}

// Get returns the payment id when actor owns it; an admin may read any.
// Another user's payment is ErrNotFound, as a missing one, so ids reveal
// nothing.
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
	if err != nil || (payment.OwnerID != actor.Subject && actor.Role != RoleAdmin) {
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

// List pages through actor's own payments, oldest first. pageSize 0
// means DefaultPageSize and anything above MaxPageSize is capped; pageToken
// is the NextPageToken of the previous page, "" for the first.
func (s *PaymentService) List(ctx context.Context, actor Actor, pageSize int, pageToken string) (PaymentPage, error) {
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
	afterID, err := decodePageToken(pageToken)
	if err != nil {
		return PaymentPage{}, err
	}
	// One extra row tells whether another page follows without a count query.
	payments, err := s.store.ListByOwner(ctx, actor.Subject, afterID, pageSize+1)
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
// role owns no payments.
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
