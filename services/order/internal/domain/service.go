package domain

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/platform/errkind"
)

// Paging limits of ListMyOrders.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// Request limits the service enforces itself, so a caller that skips the
// edge's validation still cannot store nonsense. They match the API's.
const (
	minKeyLen       = 8
	maxKeyLen       = 128
	maxIDLen        = 64
	maxItems        = 50
	maxQuantity     = 1000 // per product, after merging repeated lines
	maxReasonLen    = 200
	maxPageTokenLen = 512
	// maxPaymentMethodLen matches the API's limit on payment_method.
	maxPaymentMethodLen = 64
)

// releaseTimeout bounds the best-effort release after a cancel. It runs on
// a context of its own, so a caller that left does not cut it.
const releaseTimeout = 5 * time.Second

// OrderService places, reads and cancels orders, and drives each order's
// saga (stock, payment, events) to its end. Every method acts for the Actor
// it is given, which the edge takes from the verified token.
type OrderService struct {
	orders   OrderStore
	stock    StockReserver
	payments Payments
	limiter  OrderLimiter // nil: no limit
	saga     SagaConfig
	logger   *slog.Logger
	now      func() time.Time
}

// NewOrderService returns the service over its ports; a nil limiter places
// no limit on how fast a user orders.
func NewOrderService(orders OrderStore, stock StockReserver, payments Payments, limiter OrderLimiter,
	saga SagaConfig, logger *slog.Logger,
) (*OrderService, error) {
	if err := saga.Validate(); err != nil {
		return nil, err
	}
	return &OrderService{orders: orders, stock: stock, payments: payments, limiter: limiter, saga: saga, logger: logger, now: time.Now}, nil
}

// CreateOrder places an order of items for actor, paid with paymentMethod
// ("" for the payment service's default), idempotently by key.
//
// Lines that repeat a product are merged, as inventory merges them, so
// {A×1, A×2} orders (and compares equal to) {A×3}. The order id is derived
// from (actor, key): if actor already ordered with key, the same items
// return that order, in whatever state it is, without calling anything,
// and other items fail with ErrFailedPrecondition.
//
// A new order is stored PENDING with what it asks for, and then driven
// through its saga (see saga.go): reserve the stock at the prices
// inventory took it at, authorize the total, place the order with its
// OrderPlaced, capture. A decline or another permanent payment failure
// answers the FAILED order, its reason and its OrderFailed stored, its stock
// released. Transient failures are retried with backoff for up to
// SagaConfig.SyncBudget: an order still waiting then is answered PENDING,
// and Recover finishes it (placed, or failed at its deadline).
//
// Stock that cannot be had (an unknown product, which the error names as a
// field; too little stock; prices in two currencies) fails the order too,
// and CreateOrder answers that error, as before payments: a retry with the
// key then answers the FAILED order.
//
// A new order counts against the actor's rate limit; past it, CreateOrder
// fails with an errkind.RetryAfterError (ResourceExhausted) saying when to
// come back. A retry of an order already created returns it before the
// limiter is asked, so retries are never refused and never spend the limit.
func (s *OrderService) CreateOrder(ctx context.Context, actor Actor, key string, items []Item, paymentMethod string) (Order, error) {
	if err := checkActor(actor); err != nil {
		return Order{}, err
	}
	if err := checkKey(key); err != nil {
		return Order{}, err
	}
	merged, firstLine, err := checkItems(items)
	if err != nil {
		return Order{}, err
	}
	if len(paymentMethod) > maxPaymentMethodLen {
		return Order{}, errkind.Field("payment_method", fmt.Sprintf("must be at most %d bytes", maxPaymentMethodLen))
	}
	fingerprint := Fingerprint(merged)

	existing, err := s.orders.ByKey(ctx, actor.Subject, key)
	switch {
	case err == nil:
		return sameRequest(existing, fingerprint)
	case !errors.Is(err, ErrNotFound):
		return Order{}, fmt.Errorf("look up idempotency key: %w", err)
	}
	if s.limiter != nil {
		if ok, wait := s.limiter.Allow(ctx, actor.Subject); !ok {
			return Order{}, errkind.RetryAfter("too many orders from this user", wait)
		}
	}

	now := s.timestamp()
	o := Order{
		ID:             OrderID(actor.Subject, key),
		UserID:         actor.Subject,
		Status:         StatusPending,
		IdempotencyKey: key,
		Fingerprint:    fingerprint,
		Requested:      inRequestOrder(merged, firstLine),
		PaymentMethod:  paymentMethod,
		PaymentState:   PaymentNone,
		CreatedAt:      now,
		UpdatedAt:      now,
	}
	switch err := s.orders.Create(ctx, o); {
	case errors.Is(err, ErrAlreadyExists):
		// A concurrent duplicate stored it first, and drives it.
		winner, err := s.orders.ByKey(ctx, actor.Subject, key)
		if err != nil {
			return Order{}, fmt.Errorf("read order %s created concurrently: %w", o.ID, err)
		}
		return sameRequest(winner, fingerprint)
	case err != nil:
		return Order{}, fmt.Errorf("store order %s: %w", o.ID, err)
	}

	// The saga runs to its end or its budget even when the caller leaves:
	// a step half done is what recovery is for, not what a request makes.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.saga.SyncBudget)
	defer cancel()
	d := &drive{s: s}
	o, err = d.advance(sctx, o)
	if err != nil {
		return Order{}, fmt.Errorf("order %s stored; its saga resumes later: %w", o.ID, err)
	}
	if d.rejected != nil {
		return Order{}, d.rejected
	}
	return o, nil
}

// priceReserved prices the merged items at the prices their reservation
// answered. A product it answered no price for means an inventory older
// than reserved prices, which this service does not work with: deploy
// inventory first.
func priceReserved(orderID string, merged []Item, firstLine map[string]int, prices map[string]Price) ([]OrderItem, Money, error) {
	for _, it := range merged {
		if _, ok := prices[it.ProductID]; !ok {
			return nil, Money{}, fmt.Errorf("inventory reserved order %s but answered no price for product %q: "+
				"it is older than the order service, which needs the prices Reserve answers (deploy inventory first)",
				orderID, it.ProductID)
		}
	}
	return priceItems(merged, firstLine, prices)
}

// unknownLine names the request's first line whose product inventory does
// not know, or the first line of a second currency, as a field error; nil
// when it cannot tell (the catalog changed, or inventory does not answer).
func (s *OrderService) unknownLine(ctx context.Context, merged []Item, firstLine map[string]int) error {
	ids := make([]string, len(merged))
	for i, it := range merged {
		ids[i] = it.ProductID
	}
	prices, err := s.stock.Prices(ctx, ids)
	if err != nil {
		return nil //nolint:nilerr // best effort: the caller reports Reserve's own NotFound when the lookup fails
	}
	_, _, err = priceItems(merged, firstLine, prices)
	var fe *errkind.FieldError
	if errors.As(err, &fe) {
		return err
	}
	return nil
}

// sameRequest returns the stored order when a repeated request asks for the
// same items, and ErrFailedPrecondition when it reuses the key for others.
func sameRequest(stored Order, fingerprint string) (Order, error) {
	if stored.Fingerprint != fingerprint {
		return Order{}, fmt.Errorf("idempotency key %q was used with different items (order %s): %w",
			stored.IdempotencyKey, stored.ID, ErrFailedPrecondition)
	}
	return stored, nil
}

// priceItems turns merged items into priced order lines and their total.
// firstLine maps a product to its first line in the request: the order's
// currency is that of the request's first line, and an error names the
// earliest line at fault, as the client sent it.
func priceItems(merged []Item, firstLine map[string]int, prices map[string]Price) ([]OrderItem, Money, error) {
	inRequestOrder := slices.Clone(merged)
	slices.SortFunc(inRequestOrder, func(a, b Item) int { return firstLine[a.ProductID] - firstLine[b.ProductID] })
	var currency string
	for _, it := range inRequestOrder {
		field := fmt.Sprintf("items[%d].product_id", firstLine[it.ProductID])
		p, ok := prices[it.ProductID]
		switch {
		case !ok:
			return nil, Money{}, errkind.Field(field, fmt.Sprintf("unknown product %q", it.ProductID))
		case currency == "":
			currency = p.Unit.Currency
		case p.Unit.Currency != currency:
			return nil, Money{}, errkind.Field(field, fmt.Sprintf(
				"product %q is priced in %s, the order's first item in %s; an order has one currency",
				it.ProductID, p.Unit.Currency, currency))
		}
	}

	lines := make([]OrderItem, len(merged))
	total := Money{Currency: currency}
	for i, it := range merged {
		p := prices[it.ProductID]
		lineTotal, ok := multiply(p.Unit.AmountMinor, it.Quantity)
		if ok {
			total.AmountMinor, ok = add(total.AmountMinor, lineTotal)
		}
		if !ok {
			return nil, Money{}, fmt.Errorf("price of %d × %q (%d %s) is out of range: %w",
				it.Quantity, it.ProductID, p.Unit.AmountMinor, p.Unit.Currency, ErrFailedPrecondition)
		}
		lines[i] = OrderItem{
			ProductID: it.ProductID,
			Name:      p.Name,
			Quantity:  it.Quantity,
			UnitPrice: p.Unit,
			LineTotal: Money{AmountMinor: lineTotal, Currency: currency},
		}
	}
	return lines, total, nil
}

// multiply is a × b for non-negative amounts, reporting false on overflow.
func multiply(a, b int64) (int64, bool) {
	if a < 0 || b < 0 || (b != 0 && a > math.MaxInt64/b) {
		return 0, false
	}
	return a * b, true
}

// add is a + b for non-negative amounts, reporting false on overflow.
func add(a, b int64) (int64, bool) {
	if b > math.MaxInt64-a {
		return 0, false
	}
	return a + b, true
}

// GetOrder returns one order. Customers see only their own: anyone else's
// order is ErrNotFound, exactly like a missing one, so its existence is not
// revealed. Admins may read any order.
func (s *OrderService) GetOrder(ctx context.Context, actor Actor, id string) (Order, error) {
	if err := checkActor(actor); err != nil {
		return Order{}, err
	}
	if err := checkID("id", id); err != nil {
		return Order{}, err
	}
	o, err := s.orders.Get(ctx, id)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Order{}, fmt.Errorf("get order %s: %w", id, err)
	}
	if err != nil || (o.UserID != actor.Subject && actor.Role != RoleAdmin) {
		return Order{}, notFound(id)
	}
	return o, nil
}

// notFound is the one answer for an order that is missing or not the
// caller's.
func notFound(id string) error {
	return fmt.Errorf("order %s: %w", id, ErrNotFound)
}

// OrderPage is one page of a user's orders.
type OrderPage struct {
	Orders []Order
	// NextPageToken is "" on the last page.
	NextPageToken string
}

// ListMyOrders pages through actor's own orders, newest first. pageSize 0
// means DefaultPageSize and anything above MaxPageSize is capped; pageToken
// is the NextPageToken of the previous page, "" for the first.
func (s *OrderService) ListMyOrders(ctx context.Context, actor Actor, pageSize int, pageToken string) (OrderPage, error) {
	if err := checkActor(actor); err != nil {
		return OrderPage{}, err
	}
	switch {
	case pageSize < 0:
		return OrderPage{}, errkind.Field("page_size", "must not be negative")
	case pageSize == 0:
		pageSize = DefaultPageSize
	case pageSize > MaxPageSize:
		pageSize = MaxPageSize
	}
	after, err := decodePageToken(pageToken)
	if err != nil {
		return OrderPage{}, err
	}
	// One extra row tells whether another page follows without a count query.
	orders, err := s.orders.ListByUser(ctx, actor.Subject, after, pageSize+1)
	if err != nil {
		return OrderPage{}, fmt.Errorf("list orders of user %s: %w", actor.Subject, err)
	}
	page := OrderPage{Orders: orders}
	if len(orders) > pageSize {
		page.Orders = orders[:pageSize]
		last := page.Orders[pageSize-1]
		page.NextPageToken = encodePageToken(Cursor{CreatedAt: last.CreatedAt, ID: last.ID})
	}
	return page, nil
}

// encodePageToken makes the opaque token that resumes a listing after c.
func encodePageToken(c Cursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.CreatedAt.UnixMicro(), 10) + "/" + c.ID))
}

func decodePageToken(token string) (Cursor, error) {
	if token == "" {
		return Cursor{}, nil
	}
	bad := errkind.Field("page_token", "not a next_page_token from a previous page")
	if len(token) > maxPageTokenLen {
		return Cursor{}, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return Cursor{}, bad
	}
	micros, id, ok := strings.Cut(string(raw), "/")
	if !ok || id == "" || len(id) > maxIDLen {
		return Cursor{}, bad
	}
	us, err := strconv.ParseInt(micros, 10, 64)
	if err != nil || us < 0 {
		return Cursor{}, bad
	}
	return Cursor{CreatedAt: time.UnixMicro(us).UTC(), ID: id}, nil
}

// CancelOrder cancels one of actor's PLACED orders: it records that the
// cancel began, voids the payment (authorized) or refunds it (captured),
// then stores CANCELLED with its OrderCancelled event in one transaction,
// and releases the order's stock (best effort: inventory also releases when
// it consumes OrderCancelled). Anyone else's order is ErrNotFound; an order
// not PLACED is ErrFailedPrecondition.
//
// When the payment service does not answer within SagaConfig.SyncBudget
// the cancel stays begun, Recover finishes it, and CancelOrder fails with
// ErrUnavailable; calling it again resumes it.
func (s *OrderService) CancelOrder(ctx context.Context, actor Actor, id, reason string) (Order, error) {
	if err := checkActor(actor); err != nil {
		return Order{}, err
	}
	if err := checkID("id", id); err != nil {
		return Order{}, err
	}
	if len(reason) > maxReasonLen {
		return Order{}, errkind.Field("reason", fmt.Sprintf("must be at most %d bytes", maxReasonLen))
	}
	o, err := s.orders.Get(ctx, id)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Order{}, fmt.Errorf("get order %s: %w", id, err)
	}
	if err != nil || o.UserID != actor.Subject {
		return Order{}, notFound(id)
	}
	if o.Status != StatusPlaced {
		return Order{}, cannotCancel(o)
	}

	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.saga.SyncBudget)
	defer cancel()
	d := &drive{s: s}
	if !o.CancelRequested {
		at := s.timestamp()
		begun, err := s.orders.RequestCancel(sctx, id, reason, at)
		if err != nil {
			return Order{}, fmt.Errorf("cancel order %s: %w", id, err)
		}
		if !begun {
			// A concurrent cancel won between the read and the update.
			current, err := s.orders.Get(ctx, id)
			if err != nil {
				return Order{}, fmt.Errorf("cancel order %s: %w", id, err)
			}
			return Order{}, cannotCancel(current)
		}
		o.CancelRequested, o.CancelReason, o.UpdatedAt = true, reason, at
	}
	o, err = d.advance(sctx, o)
	switch {
	case err != nil:
		return Order{}, fmt.Errorf("cancel order %s: %w", id, err)
	case o.Status != StatusCancelled:
		return Order{}, fmt.Errorf("cancel of order %s begun, its payment not given back yet; it completes later: %w",
			id, ErrUnavailable)
	}
	return o, nil
}

func cannotCancel(o Order) error {
	if o.Status == StatusPlaced && o.CancelRequested {
		return fmt.Errorf("order %s is being cancelled: %w", o.ID, ErrFailedPrecondition)
	}
	return fmt.Errorf("order %s is %s; only a %s order can be cancelled: %w",
		o.ID, o.Status, StatusPlaced, ErrFailedPrecondition)
}

// timestamp is now at the precision every supported database keeps, so a
// stored time reads back equal.
func (s *OrderService) timestamp() time.Time {
	return s.now().UTC().Truncate(time.Microsecond)
}

// checkActor admits the accounts that own orders: customers and admins.
func checkActor(a Actor) error {
	switch {
	case a.Subject == "":
		return fmt.Errorf("no authenticated user: %w", ErrUnauthenticated)
	case a.Role != RoleCustomer && a.Role != RoleAdmin:
		return fmt.Errorf("role %q has no orders; orders belong to customer and admin accounts: %w", a.Role, ErrPermissionDenied)
	}
	return nil
}

func checkKey(key string) error {
	if len(key) < minKeyLen || len(key) > maxKeyLen {
		return errkind.Field("idempotency_key", fmt.Sprintf("must be %d to %d bytes", minKeyLen, maxKeyLen))
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

// checkItems checks each line and returns the lines merged per product
// (with each product's first line) once every merged quantity is in range.
func checkItems(items []Item) ([]Item, map[string]int, error) {
	switch {
	case len(items) == 0:
		return nil, nil, errkind.Field("items", "at least one item is required")
	case len(items) > maxItems:
		return nil, nil, errkind.Field("items", fmt.Sprintf("at most %d items are allowed", maxItems))
	}
	for i, it := range items {
		if err := checkID(fmt.Sprintf("items[%d].product_id", i), it.ProductID); err != nil {
			return nil, nil, err
		}
		if it.Quantity < 1 || it.Quantity > maxQuantity {
			return nil, nil, errkind.Field(fmt.Sprintf("items[%d].quantity", i), fmt.Sprintf("must be from 1 to %d", maxQuantity))
		}
	}
	merged, firstLine := mergeItems(items)
	for _, it := range merged {
		if it.Quantity > maxQuantity {
			return nil, nil, errkind.Field(fmt.Sprintf("items[%d].quantity", firstLine[it.ProductID]),
				fmt.Sprintf("product %q is ordered %d times over its lines; at most %d", it.ProductID, it.Quantity, maxQuantity))
		}
	}
	return merged, firstLine, nil
}
