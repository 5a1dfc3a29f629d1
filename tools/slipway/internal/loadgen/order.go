package loadgen

import (
	"context"
	crand "crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
	orderv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/order/v1"
	userv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/user/v1"
	"github.com/slipway-dev/slipway/tools/slipway/internal/report"
)

// OrderOptions configure the create-order scenario. Addresses are
// already checked to be on loopback.
type OrderOptions struct {
	UserAddr      string // gRPC
	InventoryAddr string // gRPC
	OrderAddr     string // gRPC
	OrderHTTPAddr string // REST, with Protocol "rest"
	Protocol      string // "grpc" or "rest": how CreateOrder is called; setup is always gRPC
	Users         int
	Orders        int  // how many CreateOrder calls the run makes: the stock it needs
	Restock       bool // top up stock as the admin when it is short
	AdminEmail    string
	AdminPassword string
	MaxInflight   int
	Log           io.Writer   // setup progress
	TLS           *tls.Config // nil: plaintext; else https and mTLS with it
}

// OrderScenario places orders for users registered beforehand, each of
// one unit of a product that has the stock for the whole run.
type OrderScenario struct {
	opts     OrderOptions
	runID    string
	conns    []*grpc.ClientConn
	users    userv1.UserServiceClient
	orders   orderv1.OrderServiceClient
	http     *http.Client
	accounts []*account
	products []string
	restock  Restock

	// Set by chaos before the run; zero values keep `slipway load` as it is.
	UserLookups bool                 // GetMe for the user before each CreateOrder
	RetryEvery  int                  // every retryEvery-th order is sent twice with one key; 0 never
	OnOrder     func(id, key string) // sees each acknowledged order
}

// account is a user the scenario registered, with its current token.
type account struct {
	Email    string
	password string
	token    atomic.Pointer[string]
	expires  atomic.Int64 // unix nanoseconds; 0 when the token has no expiry
}

func (a *account) bearer() string { return "Bearer " + *a.token.Load() }

// Restock is what the setup added to stock, for the report.
type Restock struct {
	Products int    `json:"products"`
	Units    int64  `json:"units"`
	As       string `json:"as,omitempty"`
}

// setupTimeout bounds the setup: registering users, logging them in,
// reading and topping up the catalog.
const setupTimeout = time.Minute

// NewOrderScenario registers and logs in the users, picks the products
// and, when stock is short and Restock allows, tops it up.
func NewOrderScenario(ctx context.Context, opts OrderOptions) (_ *OrderScenario, err error) {
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	s := &OrderScenario{opts: opts, runID: randomHex(4)}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	dial := func(addr string) (*grpc.ClientConn, error) {
		conn, err := DialGRPC(addr, opts.TLS)
		if err == nil {
			s.conns = append(s.conns, conn)
		}
		return conn, err
	}
	userConn, err := dial(opts.UserAddr)
	if err != nil {
		return nil, err
	}
	invConn, err := dial(opts.InventoryAddr)
	if err != nil {
		return nil, err
	}
	s.users = userv1.NewUserServiceClient(userConn)
	inventory := inventoryv1.NewInventoryServiceClient(invConn)
	if opts.Protocol == "rest" {
		s.http = HTTPClient(opts.MaxInflight, opts.TLS)
	} else {
		orderConn, err := dial(opts.OrderAddr)
		if err != nil {
			return nil, err
		}
		s.orders = orderv1.NewOrderServiceClient(orderConn)
	}

	began := time.Now()
	if err := s.registerUsers(ctx); err != nil {
		return nil, err
	}
	fmt.Fprintf(opts.Log, "setup: registered and logged in %d users (load-%s-NNN@example.com) in %s\n",
		len(s.accounts), s.runID, report.Seconds(time.Since(began)))

	stock, err := listStock(ctx, inventory)
	if err != nil {
		return nil, err
	}
	picked, ok := pickProducts(stock, opts.Orders)
	if !ok {
		if !opts.Restock {
			return nil, fmt.Errorf("not enough stock for %d orders of one unit: %d products hold %d units in all;"+
				" lower --rate or --duration, or allow --restock", opts.Orders, len(stock), totalStock(stock))
		}
		if picked, err = s.topUp(ctx, inventory, stock); err != nil {
			return nil, err
		}
	}
	for _, p := range picked {
		s.products = append(s.products, p.ID)
	}
	fmt.Fprintf(opts.Log, "setup: ordering from %d products with stock for %d orders (%d units in all)\n",
		len(picked), opts.Orders, totalStock(picked))
	return s, nil
}

// Close closes the connections.
// orderURL is the REST address of CreateOrder.
func (s *OrderScenario) orderURL() string {
	scheme := "http://"
	if s.opts.TLS != nil {
		scheme = "https://"
	}
	return scheme + s.opts.OrderHTTPAddr + "/v1/orders"
}

// Close closes the gRPC connections and the idle HTTP connections.
func (s *OrderScenario) Close() {
	for _, c := range s.conns {
		_ = c.Close()
	}
	if s.http != nil {
		s.http.CloseIdleConnections()
	}
}

// registerUsers registers and logs in opts.Users fresh customers, a few at
// a time.
func (s *OrderScenario) registerUsers(ctx context.Context) error {
	s.accounts = make([]*account, s.opts.Users)
	errs := make([]error, s.opts.Users)
	register := func(i int) error {
		a := &account{
			Email:    fmt.Sprintf("load-%s-%03d@example.com", s.runID, i),
			password: randomPassword(),
		}
		s.accounts[i] = a
		err := pastLimits(ctx, func() error {
			_, err := s.users.Register(ctx, &userv1.RegisterRequest{
				Email: a.Email, Password: a.password, DisplayName: fmt.Sprintf("Load %s %03d", s.runID, i),
			})
			return err
		})
		if err != nil && status.Code(err) != codes.AlreadyExists {
			return fmt.Errorf("register %s at the user service %s: %w", a.Email, s.opts.UserAddr, CallError(err))
		}
		return s.login(ctx, a)
	}
	// The first alone, so that a system that is down gives one error.
	if err := register(0); err != nil {
		return err
	}
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i := 1; i < len(s.accounts); i++ {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = register(i)
		})
	}
	wg.Wait()
	return errors.Join(firstErrors(errs, 3)...)
}

func (s *OrderScenario) login(ctx context.Context, a *account) error {
	var resp *userv1.LoginResponse
	err := pastLimits(ctx, func() (err error) {
		resp, err = s.users.Login(ctx, &userv1.LoginRequest{Email: a.Email, Password: a.password})
		return err
	})
	if err != nil {
		return fmt.Errorf("log in %s at the user service %s: %w", a.Email, s.opts.UserAddr, CallError(err))
	}
	token := resp.GetAccessToken()
	a.token.Store(&token)
	if exp := resp.GetExpiresAt(); exp != nil {
		a.expires.Store(exp.AsTime().UnixNano())
	}
	return nil
}

// setupPatience bounds how long the setup waits out the user service's
// login and register limits, which allow only a few attempts a second from
// one address: registering 20 users takes a few seconds.
const setupPatience = time.Minute

// pastLimits calls call again while it is refused with
// ResourceExhausted, after the delay the server's RetryInfo asks for, for
// up to setupPatience.
func pastLimits(ctx context.Context, call func() error) error {
	deadline := time.Now().Add(setupPatience)
	for {
		err := call()
		if status.Code(err) != codes.ResourceExhausted || time.Now().After(deadline) {
			return err
		}
		wait := 200 * time.Millisecond
		for _, d := range status.Convert(err).Details() {
			if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay() != nil {
				wait = min(max(ri.GetRetryDelay().AsDuration(), 10*time.Millisecond), 5*time.Second)
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// tokenMargin is how long before its expiry a token is renewed.
const tokenMargin = time.Minute

// keepTokens logs users in again before their tokens expire, until ctx
// ends; the shortest token lifetime the user service allows is a minute,
// and a run may last ten.
func (s *OrderScenario) keepTokens(ctx context.Context) {
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, a := range s.accounts {
			if exp := a.expires.Load(); exp != 0 && time.Until(time.Unix(0, exp)) < tokenMargin {
				call, cancel := context.WithTimeout(ctx, 5*time.Second)
				err := s.login(call, a)
				cancel()
				if err != nil && ctx.Err() == nil {
					fmt.Fprintf(s.opts.Log, "\nrenewing the token of %s: %v\n", a.Email, err)
				}
			}
		}
	}
}

// Do implements Target: one CreateOrder of one unit of a random product
// for a random user, with a fresh idempotency key. With userLookups it first
// reads the user (GetMe), as a storefront does before checkout, and a failed
// lookup fails the request. With retryEvery, every retryEvery-th order is
// sent again with the same key once it was answered, as a client retrying
// after a lost answer does: both must succeed with the same order, and the
// pair counts as one request.
func (s *OrderScenario) Do(ctx context.Context, seq int) Outcome {
	// Spreading load, not security: math/rand is what this wants.
	a := s.accounts[rand.IntN(len(s.accounts))]       //nolint:gosec // see above
	product := s.products[rand.IntN(len(s.products))] //nolint:gosec // see above
	req := &orderv1.CreateOrderRequest{
		IdempotencyKey: fmt.Sprintf("load-%s-%07d", s.runID, seq),
		Items:          []*orderv1.LineItem{{ProductId: product, Quantity: 1}},
	}
	if s.http != nil {
		return s.doREST(ctx, a, req)
	}
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", a.bearer())
	if s.UserLookups {
		if _, err := s.users.GetMe(ctx, &userv1.GetMeRequest{}); err != nil {
			out := grpcOutcome(err)
			out.Message = "GetMe: " + out.Message
			return out
		}
	}
	resp, err := s.orders.CreateOrder(ctx, req)
	if err != nil {
		return grpcOutcome(err)
	}
	id := resp.GetOrder().GetId()
	if s.RetryEvery > 0 && seq%s.RetryEvery == 0 {
		again, err := s.orders.CreateOrder(ctx, req)
		if err != nil {
			// The first answer acknowledged the order: it must exist.
			s.acknowledge(id, req.GetIdempotencyKey())
			out := grpcOutcome(err)
			out.Message = "retry with the same idempotency key: " + out.Message
			return out
		}
		if got := again.GetOrder().GetId(); got != id {
			s.acknowledge(id, req.GetIdempotencyKey())
			s.acknowledge(got, req.GetIdempotencyKey())
			return Outcome{Code: CodeIdempotency, Message: fmt.Sprintf(
				"idempotency key %s answered order %s, then %s", req.GetIdempotencyKey(), id, got)}
		}
	}
	s.acknowledge(id, req.GetIdempotencyKey())
	return grpcOutcome(nil)
}

// CodeIdempotency is the outcome of a retry that created a second order.
const CodeIdempotency = "IdempotencyBroken"

func (s *OrderScenario) acknowledge(id, key string) {
	if s.OnOrder != nil && id != "" {
		s.OnOrder(id, key)
	}
}

func (s *OrderScenario) doREST(ctx context.Context, a *account, req *orderv1.CreateOrderRequest) Outcome {
	body, err := protojson.Marshal(req)
	if err != nil {
		return Outcome{Code: codes.Internal.String(), Message: err.Error()}
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, s.orderURL(), strings.NewReader(string(body)))
	if err != nil {
		return Outcome{Code: codes.Internal.String(), Message: err.Error()}
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Authorization", a.bearer())
	return doHTTP(s.http, hreq)
}

// CallError shortens a gRPC error to its code and message, with a hint
// when nothing answers.
func CallError(err error) error {
	st := status.Convert(err)
	if st.Code() == codes.Unavailable {
		return fmt.Errorf("%s: %s (is the system running? `slipway dev` starts it)", st.Code(), st.Message())
	}
	return fmt.Errorf("%s: %s", st.Code(), st.Message())
}

// firstErrors keeps the first n non-nil errors and says how many more
// there were.
func firstErrors(errs []error, n int) []error {
	var kept []error
	more := 0
	for _, err := range errs {
		switch {
		case err == nil:
		case len(kept) < n:
			kept = append(kept, err)
		default:
			more++
		}
	}
	if more > 0 {
		kept = append(kept, fmt.Errorf("and %d more like these", more))
	}
	return kept
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = crand.Read(b)
	return hex.EncodeToString(b)
}

func randomPassword() string {
	var b [18]byte
	_, _ = crand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
