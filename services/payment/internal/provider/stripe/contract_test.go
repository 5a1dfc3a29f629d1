package stripe_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/services/payment/internal/provider"
	"github.com/slipway-dev/slipway/services/payment/internal/provider/stripe/stripetest"
)

// The contract test runs the provider against stripe-mock (package
// stripetest), which refuses any request its OpenAPI spec does not allow.

// exchange is one request the provider sent, and stripe-mock's answer.
type exchange struct {
	method, path   string
	idempotencyKey string
	form           url.Values
	status         int
}

// recordingProxy forwards to target and records every exchange.
type recordingProxy struct {
	mu        sync.Mutex
	exchanges []exchange
}

func (rp *recordingProxy) start(t *testing.T, target string) string {
	t.Helper()
	u, err := url.Parse(target)
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		proxy.ServeHTTP(sw, r)
		rp.mu.Lock()
		defer rp.mu.Unlock()
		rp.exchanges = append(rp.exchanges, exchange{
			method: r.Method, path: r.URL.Path, idempotencyKey: r.Header.Get("Idempotency-Key"), form: form, status: sw.status,
		})
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func (rp *recordingProxy) all() []exchange {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return append([]exchange(nil), rp.exchanges...)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func TestContractWithStripeMock(t *testing.T) {
	mock := stripetest.StartMock(t)
	var rp recordingProxy
	p := newProvider(t, rp.start(t, mock))
	ctx := context.Background()

	a, err := p.Authorize(ctx, visa("contract-authorize"))
	require.NoError(t, err)
	assert.Equal(t, provider.StatusAuthorized, a.Status)
	require.NotEmpty(t, a.Ref)

	require.NoError(t, p.Capture(ctx, "contract-capture-part", a.Ref, 1000))
	require.NoError(t, p.Capture(ctx, "contract-capture-all", a.Ref, 0))
	require.NoError(t, p.Void(ctx, "contract-void", a.Ref))
	require.NoError(t, p.Refund(ctx, "contract-refund-part", a.Ref, 500))
	require.NoError(t, p.Refund(ctx, "contract-refund-all", a.Ref, 0))

	want := []struct {
		path, key string
		form      map[string]string // fields that must be sent as given
		absent    []string          // fields that must not be sent
	}{
		{"/v1/payment_intents", "contract-authorize", map[string]string{
			"amount": "1500", "currency": "eur", "payment_method": "pm_card_visa",
			"capture_method": "manual", "confirm": "true", "error_on_requires_action": "true",
			"metadata[order_id]": "order-1", "metadata[user_id]": "user-1",
		}, nil},
		{"/v1/payment_intents/" + a.Ref + "/capture", "contract-capture-part", map[string]string{"amount_to_capture": "1000"}, nil},
		{"/v1/payment_intents/" + a.Ref + "/capture", "contract-capture-all", nil, []string{"amount_to_capture"}},
		{"/v1/payment_intents/" + a.Ref + "/cancel", "contract-void", nil, nil},
		{"/v1/refunds", "contract-refund-part", map[string]string{"payment_intent": a.Ref, "amount": "500"}, nil},
		{"/v1/refunds", "contract-refund-all", map[string]string{"payment_intent": a.Ref}, []string{"amount"}},
	}
	got := rp.all()
	require.Len(t, got, len(want), "one request per call, none retried")
	for i, w := range want {
		g := got[i]
		assert.Equal(t, http.MethodPost, g.method, w.path)
		assert.Equal(t, w.path, g.path)
		assert.Equal(t, http.StatusOK, g.status, "stripe-mock accepted %s", w.path)
		assert.Equal(t, w.key, g.idempotencyKey, "%s carries the caller's Idempotency-Key", w.path)
		for k, v := range w.form {
			assert.Equal(t, v, g.form.Get(k), "%s %s", w.path, k)
		}
		for _, k := range w.absent {
			assert.NotContains(t, g.form, k, "%s sends no %s", w.path, k)
		}
	}
}

// TestStripeMockRefusesWhatTheSpecForbids shows the contract test can fail:
// stripe-mock answers a request outside Stripe's spec with 400.
func TestStripeMockRefusesWhatTheSpecForbids(t *testing.T) {
	mock := stripetest.StartMock(t)
	form := url.Values{"amount": {"1500"}, "currency": {"eur"}, "capture_method": {"whenever"}}
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, mock+"/v1/payment_intents", strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("sk_test_123", "")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
}
