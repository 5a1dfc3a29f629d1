package domain

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/platform/errkind"
)

// Paging limits of ListProducts.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// Request limits the service enforces itself, so a caller that skips the
// edge's validation still cannot store nonsense.
const (
	maxIDLen     = 128
	maxItems     = 50
	maxQuantity  = 1000 // per line, so a merged quantity always fits the API's int32
	maxReasonLen = 200
)

// DefaultReservationTTL is how long a reservation holds its stock when no
// WithReservationTTL is given: long enough for an order to store itself and
// its OrderPlaced to arrive, short enough that an order that never completes
// does not hold stock for long.
const DefaultReservationTTL = 15 * time.Minute

// expireBatch is how many expired reservations ExpireReservations reads at a
// time; each of them is then released in a transaction of its own.
const expireBatch = 100

// InventoryService owns the catalog, stock levels and reservations.
type InventoryService struct {
	store Store
	ttl   time.Duration
	now   func() time.Time
}

// Option configures an InventoryService.
type Option func(*InventoryService)

// WithReservationTTL sets how long a reservation that is not committed holds
// its stock before ExpireReservations gives it back.
func WithReservationTTL(ttl time.Duration) Option {
	return func(s *InventoryService) { s.ttl = ttl }
}

// NewInventoryService returns the service over store.
func NewInventoryService(store Store, opts ...Option) *InventoryService {
	s := &InventoryService{store: store, ttl: DefaultReservationTTL, now: time.Now}
	for _, opt := range opts {
		opt(s)
	}
	return s
}

// ProductPage is one page of the catalog.
type ProductPage struct {
	Products []Product
	// NextPageToken is "" on the last page.
	NextPageToken string
}

// ListProducts pages through the catalog in id order. pageSize 0 means
// DefaultPageSize and anything above MaxPageSize is capped; pageToken is the
// NextPageToken of the previous page, "" for the first.
func (s *InventoryService) ListProducts(ctx context.Context, pageSize int, pageToken string) (ProductPage, error) {
	switch {
	case pageSize < 0:
		return ProductPage{}, errkind.Field("page_size", "must not be negative")
	case pageSize == 0:
		pageSize = DefaultPageSize
	case pageSize > MaxPageSize:
		pageSize = MaxPageSize
	}
	afterID, err := decodePageToken(pageToken)
	if err != nil {
		return ProductPage{}, err
	}
	// One extra row tells whether another page follows without a count query.
	products, err := s.store.ListProducts(ctx, afterID, pageSize+1)
	if err != nil {
		return ProductPage{}, fmt.Errorf("list products: %w", err)
	}
	page := ProductPage{Products: products}
	if len(products) > pageSize {
		page.Products = products[:pageSize]
		page.NextPageToken = encodePageToken(page.Products[pageSize-1].ID)
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
	id, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(id) == 0 || len(id) > maxIDLen {
		return "", errkind.Field("page_token", "not a next_page_token from a previous page")
	}
	return string(id), nil
}

// GetProduct returns one product with its current stock.
func (s *InventoryService) GetProduct(ctx context.Context, id string) (Product, error) {
	if err := checkID("id", id); err != nil {
		return Product{}, err
	}
	p, err := s.store.GetProduct(ctx, id)
	if err != nil {
		return Product{}, fmt.Errorf("get product %q: %w", id, err)
	}
	return p, nil
}

// Reserve takes stock for an order: all items or none, in one transaction.
// The reservation expires after the service's reservation TTL unless the
// order's OrderPlaced commits it first (see Commit and ExpireReservations).
//
// It is idempotent by orderID. The same items again (in any order) return
// the stored reservation without taking stock again; different items under
// the same order id, or an order that was released (or compensated before
// its reserve landed), fail with ErrFailedPrecondition.
//
// Lines that repeat a product are merged by adding their quantities, so
// {A×1, A×2} reserves, and compares equal to, {A×3}. An unknown product is
// ErrNotFound; too little stock is an *InsufficientStockError
// (ErrFailedPrecondition) naming the product, requested and available units.
func (s *InventoryService) Reserve(ctx context.Context, orderID string, items []Item) (Reservation, error) {
	if err := checkID("order_id", orderID); err != nil {
		return Reservation{}, err
	}
	if err := checkItems(items); err != nil {
		return Reservation{}, err
	}
	now := s.timestamp()
	want := Reservation{
		OrderID:   orderID,
		Items:     mergeItems(items),
		Status:    StatusReserved,
		ExpiresAt: now.Add(s.ttl),
		CreatedAt: now,
		UpdatedAt: now,
	}
	var got Reservation
	err := s.store.InTx(ctx, func(ctx context.Context, tx Tx) error {
		// Claiming the order id comes first in ReserveItems: of two
		// concurrent reserves for one order, the second waits there for the
		// first and then sees it.
		claimed, taken, err := tx.ReserveItems(ctx, want)
		if err != nil {
			return err
		}
		if !claimed {
			got, err = existingReservation(ctx, tx, want)
			return err
		}
		if len(taken) < len(want.Items) {
			return shortage(ctx, tx, want.Items, taken) // rolls back the claim and every unit taken
		}
		got = want
		got.Items = slices.SortedFunc(slices.Values(taken), func(a, b Item) int { return strings.Compare(a.ProductID, b.ProductID) })
		return nil
	})
	if err != nil {
		return Reservation{}, fmt.Errorf("reserve stock for order %s: %w", orderID, err)
	}
	return got, nil
}

// shortage is the error of a Reserve whose ReserveItems left lines out: the
// first of them in product id order is an unknown product (ErrNotFound) or
// a short one (*InsufficientStockError).
func shortage(ctx context.Context, tx Tx, want, taken []Item) error {
	took := make(map[string]bool, len(taken))
	for _, it := range taken {
		took[it.ProductID] = true
	}
	for _, it := range want {
		if took[it.ProductID] {
			continue
		}
		p, err := tx.GetProduct(ctx, it.ProductID)
		if err != nil {
			return err // ErrNotFound for an unknown product
		}
		return &InsufficientStockError{ProductID: it.ProductID, Requested: it.Quantity, Available: p.Stock}
	}
	return fmt.Errorf("took the stock of %d of %d products, yet none is missing", len(taken), len(want))
}

// existingReservation decides what a Reserve that found its order id taken
// returns: the stored reservation when it is the same request, an error
// otherwise.
func existingReservation(ctx context.Context, tx Tx, want Reservation) (Reservation, error) {
	stored, err := tx.GetReservation(ctx, want.OrderID)
	if err != nil {
		return Reservation{}, err
	}
	switch {
	case stored.Status == StatusReleased:
		return Reservation{}, fmt.Errorf("order %s was already released and cannot be reserved again: %w",
			want.OrderID, ErrFailedPrecondition)
	case stored.Fingerprint() != want.Fingerprint():
		return Reservation{}, fmt.Errorf("order %s already holds a reservation for different items: %w",
			want.OrderID, ErrFailedPrecondition)
	}
	return stored, nil
}

// takeStock removes quantity units of a product, telling a missing product
// from a short one.
func takeStock(ctx context.Context, tx Tx, productID string, quantity int64, at time.Time) error {
	ok, err := tx.TakeStock(ctx, productID, quantity, at)
	if err != nil || ok {
		return err
	}
	p, err := tx.GetProduct(ctx, productID)
	if err != nil {
		return err // ErrNotFound for an unknown product
	}
	return &InsufficientStockError{ProductID: productID, Requested: quantity, Available: p.Stock}
}

// Release returns the stock of an order's reservation, whether RESERVED or
// COMMITTED (an order cancelled after it was placed), and marks it RELEASED.
// It is idempotent. Releasing an order that was never reserved stores a
// RELEASED tombstone, so a Reserve that arrives late (an order compensating
// before its reserve landed) fails instead of holding stock forever.
func (s *InventoryService) Release(ctx context.Context, orderID string) (Reservation, error) {
	return s.settle(ctx, nil, orderID, "release stock", release)
}

// ReleaseInTx is Release inside tx, a transaction the caller began and
// commits: an event consumer's, so the release commits together with the
// record that the event was handled.
func (s *InventoryService) ReleaseInTx(ctx context.Context, tx Tx, orderID string) (Reservation, error) {
	return s.settle(ctx, tx, orderID, "release stock", release)
}

// ReleaseFailedInTx is ReleaseInTx for an order that failed before it was
// placed (its OrderFailed): a reservation still held gives its stock back,
// one already released stays as it is, and an order never reserved gets the
// RELEASED tombstone. A COMMITTED reservation is left committed and
// returned as it is: only OrderPlaced commits, and an order that was placed
// cannot also have failed, so returning that stock could oversell.
//
// The status is read before the release, not guarded in its statement: a
// commit cannot race it, since the order service makes an order either
// PLACED (OrderPlaced) or FAILED (OrderFailed), never both.
func (s *InventoryService) ReleaseFailedInTx(ctx context.Context, tx Tx, orderID string) (Reservation, error) {
	return s.settle(ctx, tx, orderID, "release stock of failed order", releaseFailed)
}

func releaseFailed(ctx context.Context, tx Tx, orderID string, now time.Time) (Reservation, error) {
	r, err := tx.GetReservation(ctx, orderID)
	switch {
	case errors.Is(err, ErrNotFound):
		return release(ctx, tx, orderID, now)
	case err != nil:
		return Reservation{}, err
	case r.Status == StatusCommitted:
		return r, nil
	}
	return release(ctx, tx, orderID, now)
}

func release(ctx context.Context, tx Tx, orderID string, now time.Time) (Reservation, error) {
	tombstone := Reservation{OrderID: orderID, Status: StatusReleased, CreatedAt: now, UpdatedAt: now}
	created, err := tx.CreateReservation(ctx, tombstone)
	if err != nil {
		return Reservation{}, err
	}
	if created {
		return tombstone, nil
	}
	released, err := tx.MarkReleased(ctx, orderID, now)
	if err != nil {
		return Reservation{}, err
	}
	r, err := tx.GetReservation(ctx, orderID)
	if err != nil || !released {
		return r, err // already released: nothing to return
	}
	return r, putBack(ctx, tx, r.Items, now)
}

// putBack returns the units of items to their products. A product that left
// the catalog fails it, rather than lose the stock silently.
func putBack(ctx context.Context, tx Tx, items []Item, now time.Time) error {
	for _, it := range items {
		ok, err := tx.PutStock(ctx, it.ProductID, it.Quantity, now)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("return %d units of product %q: %w", it.Quantity, it.ProductID, ErrNotFound)
		}
	}
	return nil
}

// Commit marks the order's reservation COMMITTED: the order was placed, so
// its stock stays taken and the reservation no longer expires. It is
// idempotent: a COMMITTED reservation stays as it is. A reservation that is
// already RELEASED (the order was cancelled, or it expired before the
// order's OrderPlaced arrived) is left released and the error wraps
// ErrReleased; an order never reserved is ErrNotFound.
func (s *InventoryService) Commit(ctx context.Context, orderID string) (Reservation, error) {
	return s.settle(ctx, nil, orderID, "commit reservation", commit)
}

// CommitInTx is Commit inside tx, a transaction the caller began and
// commits: an event consumer's, so the commit happens together with the
// record that the event was handled.
func (s *InventoryService) CommitInTx(ctx context.Context, tx Tx, orderID string) (Reservation, error) {
	return s.settle(ctx, tx, orderID, "commit reservation", commit)
}

// settle moves orderID's reservation with step (release or commit) inside
// tx, or in a transaction of its own when tx is nil; what names the move in
// its errors. A bad order id is refused before any transaction begins.
func (s *InventoryService) settle(ctx context.Context, tx Tx, orderID, what string,
	step func(ctx context.Context, tx Tx, orderID string, now time.Time) (Reservation, error),
) (Reservation, error) {
	if err := checkID("order_id", orderID); err != nil {
		return Reservation{}, err
	}
	now := s.timestamp()
	var r Reservation
	var err error
	if tx != nil {
		r, err = step(ctx, tx, orderID, now)
	} else {
		err = s.store.InTx(ctx, func(ctx context.Context, tx Tx) error {
			var err error
			r, err = step(ctx, tx, orderID, now)
			return err
		})
	}
	if err != nil {
		return Reservation{}, fmt.Errorf("%s of order %s: %w", what, orderID, err)
	}
	return r, nil
}

func commit(ctx context.Context, tx Tx, orderID string, now time.Time) (Reservation, error) {
	if _, err := tx.MarkCommitted(ctx, orderID, now); err != nil {
		return Reservation{}, err
	}
	r, err := tx.GetReservation(ctx, orderID)
	if err != nil {
		return Reservation{}, err // ErrNotFound for an order never reserved
	}
	if r.Status == StatusReleased {
		return Reservation{}, fmt.Errorf("released at %s: %w", r.UpdatedAt.Format(time.RFC3339), ErrReleased)
	}
	return r, nil
}

// ExpireReservations releases every RESERVED reservation whose expiry has
// passed, returning its stock, and reports how many it released.
//
// It reads the expired reservations in batches and releases each one in a
// transaction of its own, guarded in the statement (only a RESERVED
// reservation past its expiry moves), so two instances sweeping at once, or
// a sweep racing a commit or a release, return the stock exactly once. A
// transaction locks one reservation and then its products in id order, as
// Reserve and Release do, so sweeping cannot deadlock with them; and one
// reservation that cannot be released (its product left the catalog) does
// not hold back the rest: it is counted in the returned error and retried on
// the next sweep.
func (s *InventoryService) ExpireReservations(ctx context.Context) (int, error) {
	now := s.timestamp()
	var (
		expired, failed int
		firstErr        error
		after           string
	)
	for {
		ids, err := s.store.ExpiredReservations(ctx, now, after, expireBatch)
		if err != nil {
			return expired, fmt.Errorf("expire reservations: %w", err)
		}
		for _, id := range ids {
			if ctx.Err() != nil {
				return expired, fmt.Errorf("expire reservations: %w", context.Cause(ctx))
			}
			ok, err := s.expire(ctx, id, now)
			switch {
			case err != nil:
				failed++
				if firstErr == nil {
					firstErr = fmt.Errorf("order %s: %w", id, err)
				}
			case ok:
				expired++
			}
		}
		if len(ids) < expireBatch {
			break
		}
		after = ids[len(ids)-1]
	}
	if failed > 0 {
		return expired, fmt.Errorf("expire reservations: %d of them failed, the first: %w", failed, firstErr)
	}
	return expired, nil
}

// expire releases one expired reservation and reports whether this call did
// (false when another sweeper, a commit or a release got there first).
func (s *InventoryService) expire(ctx context.Context, orderID string, now time.Time) (bool, error) {
	var expired bool
	err := s.store.InTx(ctx, func(ctx context.Context, tx Tx) error {
		var err error
		if expired, err = tx.MarkExpired(ctx, orderID, now); err != nil || !expired {
			return err
		}
		r, err := tx.GetReservation(ctx, orderID)
		if err != nil {
			return err
		}
		return putBack(ctx, tx, r.Items, now)
	})
	if err != nil {
		return false, err
	}
	return expired, nil
}

// AdjustStock adds delta units (removes them when negative) to a product's
// stock and records why. Only an admin may do it, and stock never goes below
// zero: a larger removal is an *InsufficientStockError.
func (s *InventoryService) AdjustStock(ctx context.Context, actor Actor, productID string, delta int64, reason string) (Product, error) {
	if actor.Role != RoleAdmin {
		return Product{}, fmt.Errorf("adjust stock: role %q may not adjust stock: %w", actor.Role, ErrPermissionDenied)
	}
	if err := checkID("product_id", productID); err != nil {
		return Product{}, err
	}
	if delta == 0 {
		return Product{}, errkind.Field("delta", "must not be zero")
	}
	if len(reason) > maxReasonLen {
		return Product{}, errkind.Field("reason", fmt.Sprintf("must be at most %d bytes", maxReasonLen))
	}
	now := s.timestamp()
	var got Product
	err := s.store.InTx(ctx, func(ctx context.Context, tx Tx) error {
		if delta < 0 {
			if err := takeStock(ctx, tx, productID, -delta, now); err != nil {
				return err
			}
		} else {
			ok, err := tx.PutStock(ctx, productID, delta, now)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("product %q: %w", productID, ErrNotFound)
			}
		}
		err := tx.RecordAdjustment(ctx, StockAdjustment{
			ProductID: productID, Delta: delta, Reason: reason, Actor: actor.Subject, At: now,
		})
		if err != nil {
			return err
		}
		got, err = tx.GetProduct(ctx, productID)
		return err
	})
	if err != nil {
		return Product{}, fmt.Errorf("adjust stock of product %q by %d: %w", productID, delta, err)
	}
	return got, nil
}

// timestamp is now at the precision every supported database keeps, so a
// stored time reads back equal.
func (s *InventoryService) timestamp() time.Time {
	return s.now().UTC().Truncate(time.Microsecond)
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

func checkItems(items []Item) error {
	switch {
	case len(items) == 0:
		return errkind.Field("items", "at least one item is required")
	case len(items) > maxItems:
		return errkind.Field("items", fmt.Sprintf("at most %d items are allowed", maxItems))
	}
	for i, it := range items {
		if err := checkID(fmt.Sprintf("items[%d].product_id", i), it.ProductID); err != nil {
			return err
		}
		if it.Quantity < 1 || it.Quantity > maxQuantity {
			return errkind.Field(fmt.Sprintf("items[%d].quantity", i), fmt.Sprintf("must be from 1 to %d", maxQuantity))
		}
	}
	return nil
}
