package app_test

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	stripego "github.com/stripe/stripe-go/v82"
	"github.com/stripe/stripe-go/v82/webhook"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	moneyv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/money/v1"
	paymentv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/payment/v1"
	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/server/servertest"
	"github.com/slipway-dev/slipway/services/payment/internal/app"
	"github.com/slipway-dev/slipway/services/payment/internal/rpc"
)

// service is one payment process started through app.Run.
type service struct {
	*servertest.Process
	conn   *grpc.ClientConn
	client paymentv1.PaymentServiceClient
	signer *auth.Signer
}

// start runs the service on SQLite with ports 0, a JWKS it controls and
// the sandbox answering at once, with extra settings over those
// ("KEY=value"), and stops it (asserting a clean stop) when the test ends.
func start(t testing.TB, extra ...string) *service {
	t.Helper()
	signer, jwksURL := servertest.Issuer(t)
	env := map[string]string{
		"GRPC_ADDR":              "127.0.0.1:0",
		"HTTP_ADDR":              "127.0.0.1:0",
		"DATABASE_URL":           "sqlite://" + filepath.Join(t.TempDir(), "payment.db"),
		"AUTH_JWKS_URL":          jwksURL,
		"DRAIN_DELAY":            "0s",
		"SANDBOX_LATENCY_MEDIAN": "0s",
		"SANDBOX_LATENCY_P99":    "0s",
	}
	for _, kv := range extra {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	s := &service{Process: servertest.Start(t, app.Run, env), signer: signer}
	s.conn = servertest.Dial(t, s.GRPCAddr)
	s.client = paymentv1.NewPaymentServiceClient(s.conn)
	return s
}

// token is a bearer token for subject with role, signed with the key the
// service trusts.
func (s *service) token(t *testing.T, subject string, role auth.Role) string {
	t.Helper()
	c := auth.Claims{Subject: subject, Role: role}
	if role == auth.RoleService {
		c.Email = subject + "@" + auth.ServiceAccountDomain
	}
	token, _, err := s.signer.Sign(c)
	require.NoError(t, err)
	return token
}

// as is ctx carrying a token for subject with role.
func (s *service) as(t *testing.T, subject string, role auth.Role) context.Context {
	t.Helper()
	return metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+s.token(t, subject, role))
}

// asOrder is ctx carrying the order service's token: the one caller the
// policy lets move money.
func (s *service) asOrder(t *testing.T) context.Context {
	t.Helper()
	return s.as(t, "order", auth.RoleService)
}

var usd1999 = &moneyv1.Money{Currency: "USD", AmountMinor: 1999}

func authorizeReq(order, user, method string) *paymentv1.AuthorizePaymentRequest {
	return &paymentv1.AuthorizePaymentRequest{OrderId: order, UserId: user, Amount: usd1999, PaymentMethod: method, IdempotencyKey: order + ":authorize"}
}

func TestRunServesPayments(t *testing.T) {
	s := start(t)
	authorized, err := s.client.AuthorizePayment(s.asOrder(t), authorizeReq("o-1", "user-alice", "pm_card_visa"))
	require.NoError(t, err)
	p := authorized.GetPayment()
	require.NotEmpty(t, p.GetId())
	assert.Equal(t, paymentv1.PaymentState_PAYMENT_STATE_AUTHORIZED, p.GetState())
	assert.Equal(t, "user-alice", p.GetUserId())
	assert.Equal(t, "sandbox", p.GetProvider())
	assert.True(t, strings.HasPrefix(p.GetProviderRef(), "pi_sbx_"), "the sandbox's ref: %q", p.GetProviderRef())

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+s.HTTPAddr+"/v1/payments/"+p.GetId(), nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+s.token(t, "user-alice", auth.RoleCustomer))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	assert.Contains(t, string(body), `"id":"`+p.GetId()+`"`)
	assert.Contains(t, string(body), `"state":"PAYMENT_STATE_AUTHORIZED"`)

	for _, path := range []string{"/healthz", "/readyz", "/openapi.yaml", "/metrics"} {
		resp, err := http.Get("http://" + s.HTTPAddr + path)
		require.NoError(t, err, path)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err, path)
		assert.Equal(t, http.StatusOK, resp.StatusCode, path)
		switch path {
		case "/openapi.yaml":
			assert.Contains(t, string(body), "/v1/payments:authorize", "the document describes the service's routes")
		case "/metrics":
			assert.Contains(t, string(body), `slipway_payment_provider_calls_total{operation="authorize",outcome="ok",provider="sandbox"} 1`)
		}
	}
}

func TestRunMovesMoneyThroughThePaymentsLife(t *testing.T) {
	s := start(t)
	ctx := s.asOrder(t)
	_, err := s.client.AuthorizePayment(ctx, authorizeReq("o-1", "user-alice", ""))
	require.NoError(t, err, "an empty payment method is the sandbox's default card")

	capture := &paymentv1.CapturePaymentRequest{OrderId: "o-1", Amount: usd1999, IdempotencyKey: "o-1:capture"}
	for range 2 {
		resp, err := s.client.CapturePayment(ctx, capture)
		require.NoError(t, err)
		assert.Equal(t, paymentv1.PaymentState_PAYMENT_STATE_CAPTURED, resp.GetPayment().GetState())
	}
	_, err = s.client.VoidPayment(ctx, &paymentv1.VoidPaymentRequest{OrderId: "o-1", IdempotencyKey: "o-1:void"})
	assert.Equal(t, codes.FailedPrecondition, status.Code(err), "a captured payment is refunded, not voided")

	refund := &paymentv1.RefundPaymentRequest{OrderId: "o-1", Amount: usd1999, IdempotencyKey: "o-1:refund"}
	for range 2 {
		resp, err := s.client.RefundPayment(ctx, refund)
		require.NoError(t, err)
		assert.Equal(t, paymentv1.PaymentState_PAYMENT_STATE_REFUNDED, resp.GetPayment().GetState())
	}

	none, err := s.client.VoidPayment(ctx, &paymentv1.VoidPaymentRequest{OrderId: "o-never", IdempotencyKey: "o-never:void"})
	require.NoError(t, err, "voiding an order that never had a payment succeeds")
	assert.Nil(t, none.GetPayment())

	_, err = s.client.AuthorizePayment(ctx, authorizeReq("o-2", "user-alice", "pm_card_visa"))
	require.NoError(t, err)
	voided, err := s.client.VoidPayment(ctx, &paymentv1.VoidPaymentRequest{OrderId: "o-2", IdempotencyKey: "o-2:void"})
	require.NoError(t, err)
	assert.Equal(t, paymentv1.PaymentState_PAYMENT_STATE_VOIDED, voided.GetPayment().GetState())

	_, err = s.client.CapturePayment(ctx, &paymentv1.CapturePaymentRequest{OrderId: "o-2", Amount: usd1999, IdempotencyKey: "o-2:capture"})
	assert.Equal(t, codes.FailedPrecondition, status.Code(err), "a voided payment cannot be captured")
}

func TestRunDeclineCarriesTheReasonAndTheDeclineCode(t *testing.T) {
	s := start(t)
	for _, attempt := range []string{"first", "repeat"} {
		t.Run(attempt, func(t *testing.T) {
			_, err := s.client.AuthorizePayment(s.asOrder(t), authorizeReq("o-declined", "user-alice", "pm_card_chargeDeclinedInsufficientFunds"))
			st := status.Convert(err)
			require.Equal(t, codes.FailedPrecondition, st.Code(), "%v", err)
			assert.Equal(t, "Your card has insufficient funds.", st.Message())
			var info *errdetails.ErrorInfo
			for _, d := range st.Details() {
				if i, ok := d.(*errdetails.ErrorInfo); ok {
					info = i
				}
			}
			require.NotNil(t, info, "an ErrorInfo detail")
			assert.Equal(t, rpc.ReasonPaymentDeclined, info.GetReason())
			assert.Equal(t, "PAYMENT_DECLINED", info.GetReason())
			assert.Equal(t, rpc.ErrorDomain, info.GetDomain())
			assert.Equal(t, map[string]string{"decline_code": "insufficient_funds"}, info.GetMetadata())
		})
	}
	mine, err := s.client.ListMyPayments(s.as(t, "user-alice", auth.RoleCustomer), &paymentv1.ListMyPaymentsRequest{})
	require.NoError(t, err)
	require.Len(t, mine.GetPayments(), 1)
	assert.Equal(t, paymentv1.PaymentState_PAYMENT_STATE_DECLINED, mine.GetPayments()[0].GetState())
	assert.Equal(t, "insufficient_funds", mine.GetPayments()[0].GetDeclineCode())
}

func TestRunAbandonsAnAuthorizationThatNeverAnswers(t *testing.T) {
	s := start(t)
	ctx, cancel := context.WithTimeout(s.asOrder(t), 300*time.Millisecond)
	defer cancel()
	_, err := s.client.AuthorizePayment(ctx, authorizeReq("o-timeout", "user-alice", "pm_card_timeout"))
	code := status.Code(err)
	assert.True(t, code == codes.DeadlineExceeded || code == codes.Unavailable, "got %v", err)

	mine, err := s.client.ListMyPayments(s.as(t, "user-alice", auth.RoleCustomer), &paymentv1.ListMyPaymentsRequest{})
	require.NoError(t, err)
	require.Len(t, mine.GetPayments(), 1)
	assert.Equal(t, paymentv1.PaymentState_PAYMENT_STATE_PENDING, mine.GetPayments()[0].GetState())

	// The card never answers, so a void cannot settle it either: the void
	// abandons it within its deadline (VOIDED), so the order's saga can end,
	// and the same authorization never holds afterwards.
	vctx, vcancel := context.WithTimeout(s.asOrder(t), 600*time.Millisecond)
	defer vcancel()
	resp, err := s.client.VoidPayment(vctx, &paymentv1.VoidPaymentRequest{OrderId: "o-timeout", IdempotencyKey: "o-timeout:void"})
	require.NoError(t, err)
	assert.Equal(t, paymentv1.PaymentState_PAYMENT_STATE_VOIDED, resp.GetPayment().GetState())
	_, err = s.client.AuthorizePayment(s.asOrder(t), authorizeReq("o-timeout", "user-alice", "pm_card_timeout"))
	assert.Equal(t, codes.FailedPrecondition, status.Code(err), "got %v", err)
}

func TestRunEnforcesThePolicy(t *testing.T) {
	s := start(t)
	authorize := func(ctx context.Context, order string) error {
		_, err := s.client.AuthorizePayment(ctx, authorizeReq(order, "user-alice", "pm_card_visa"))
		return err
	}
	tests := []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"authorize without a token", func() error { return authorize(t.Context(), "o-1") }, codes.Unauthenticated},
		{"authorize as a customer", func() error { return authorize(s.as(t, "user-alice", auth.RoleCustomer), "o-2") }, codes.PermissionDenied},
		{"authorize as a service the policy does not name", func() error { return authorize(s.as(t, "inventory", auth.RoleService), "o-3") }, codes.PermissionDenied},
		{"authorize as the order service", func() error { return authorize(s.asOrder(t), "o-4") }, codes.OK},
		{"authorize as an admin", func() error { return authorize(s.as(t, "user-root", auth.RoleAdmin), "o-5") }, codes.OK},
		{"capture as a customer", func() error {
			_, err := s.client.CapturePayment(s.as(t, "user-alice", auth.RoleCustomer), &paymentv1.CapturePaymentRequest{OrderId: "o-4", Amount: usd1999, IdempotencyKey: "k"})
			return err
		}, codes.PermissionDenied},
		{"void as a customer", func() error {
			_, err := s.client.VoidPayment(s.as(t, "user-alice", auth.RoleCustomer), &paymentv1.VoidPaymentRequest{OrderId: "o-4", IdempotencyKey: "k"})
			return err
		}, codes.PermissionDenied},
		{"refund as a customer", func() error {
			_, err := s.client.RefundPayment(s.as(t, "user-alice", auth.RoleCustomer), &paymentv1.RefundPaymentRequest{OrderId: "o-4", Amount: usd1999, IdempotencyKey: "k"})
			return err
		}, codes.PermissionDenied},
		{"list without a token", func() error {
			_, err := s.client.ListMyPayments(t.Context(), &paymentv1.ListMyPaymentsRequest{})
			return err
		}, codes.Unauthenticated},
		{"list as the order service, which has no payments", func() error {
			_, err := s.client.ListMyPayments(s.asOrder(t), &paymentv1.ListMyPaymentsRequest{})
			return err
		}, codes.PermissionDenied},
		{"an invalid request is refused before the handler", func() error {
			_, err := s.client.AuthorizePayment(s.asOrder(t), &paymentv1.AuthorizePaymentRequest{OrderId: "o-6"})
			return err
		}, codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, status.Code(tt.call()))
		})
	}
}

func TestRunTakesStripesWebhookOnlyOnStripe(t *testing.T) {
	const secret = "whsec_test_secret"
	event := []byte(`{"id":"evt_1","object":"event","type":"payment_intent.succeeded","created":1700000000,"api_version":"` + stripego.APIVersion + `",` +
		`"data":{"object":{"id":"pi_1","object":"payment_intent","amount_received":1999}}}`)
	post := func(t *testing.T, s *service, sig string) int {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+s.HTTPAddr+app.StripeWebhookPath, bytes.NewReader(event))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		if sig != "" {
			req.Header.Set("Stripe-Signature", sig)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	t.Run("stripe", func(t *testing.T) {
		// The API is never called here: the URL is a port nothing listens on.
		s := start(t, "PAYMENT_PROVIDER=stripe", "STRIPE_API_KEY=sk_test_123", "STRIPE_WEBHOOK_SECRET="+secret, "STRIPE_API_URL=http://127.0.0.1:9")
		signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: event, Secret: secret, Timestamp: time.Now()})
		assert.Equal(t, http.StatusOK, post(t, s, signed.Header), "a signed event is taken")
		assert.Equal(t, http.StatusBadRequest, post(t, s, "t=1,v1=forged"), "a forged one is refused")
		assert.Equal(t, http.StatusBadRequest, post(t, s, ""), "an unsigned one is refused")
	})
	t.Run("sandbox", func(t *testing.T) {
		s := start(t)
		signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: event, Secret: secret, Timestamp: time.Now()})
		assert.Equal(t, http.StatusNotFound, post(t, s, signed.Header), "no webhook without Stripe")
	})
}

func TestRunRefusesBadStarts(t *testing.T) {
	servertest.RefusesBadStarts(t, app.Run, []servertest.BadStart{
		{Name: "help", Args: []string{"--help"}, Is: flag.ErrHelp},
		{Name: "a stray argument", Args: []string{"serve"}, WantErr: "unexpected arguments"},
		{Name: "a config file that is missing", Args: []string{"--config", "/nonexistent/payment.yaml"}, WantErr: "payment.yaml"},
		{Name: "a bad database url", Env: map[string]string{"DATABASE_URL": "mysql://db"}, WantErr: "DATABASE_URL"},
		{Name: "a bad grpc address", Env: map[string]string{"GRPC_ADDR": "nope"}, WantErr: "GRPC_ADDR"},
		{Name: "an unknown provider", Env: map[string]string{"PAYMENT_PROVIDER": "paypal"}, WantErr: "PAYMENT_PROVIDER"},
		{Name: "stripe without an API key", Env: map[string]string{"PAYMENT_PROVIDER": "stripe"}, WantErr: "STRIPE_API_KEY"},
		{Name: "a transient rate above 1", Env: map[string]string{"SANDBOX_TRANSIENT_RATE": "2"}, WantErr: "SANDBOX_TRANSIENT_RATE"},
	})
}
