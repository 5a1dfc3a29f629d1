package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/auth"
)

// These tests make the REST answers that the order flow never gets: a 400
// with field violations, a 403, a 409, a 429 and the internal reservation
// calls as the order service's account. make openapi-replay records them
// with the rest (OPENAPI_E2E) and replays them through Prism, so the
// documents' Problem, FieldViolation and x-internal operations meet real
// answers.

// restAnswer is one REST response as a client sees it.
type restAnswer struct {
	status      int
	contentType string
	retryAfter  string
	body        []byte
}

// problem decodes an application/problem+json answer.
func (a restAnswer) problem(t *testing.T) (code string, fields []string) {
	t.Helper()
	var p struct {
		Code   string `json:"code"`
		Errors []struct {
			Field       string `json:"field"`
			Description string `json:"description"`
		} `json:"errors"`
	}
	require.NoError(t, json.Unmarshal(a.body, &p), "problem body: %s", a.body)
	for _, e := range p.Errors {
		assert.NotEmpty(t, e.Description, "field %s has a description", e.Field)
		fields = append(fields, e.Field)
	}
	return p.Code, fields
}

// restDo sends one REST request to svc through the recording client; an
// empty token sends none.
func restDo(t *testing.T, c *cluster, svc, method, target, token, body string) restAnswer {
	t.Helper()
	return restDoVia(t, http.DefaultClient, c, svc, method, target, token, body)
}

// restDoVia is restDo over client, recorded too.
func restDoVia(t *testing.T, client *http.Client, c *cluster, svc, method, target, token, body string) restAnswer {
	t.Helper()
	p := c.procs[svc]
	require.NotNil(t, p, "%s is not running", svc)
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, "http://"+p.httpAddr+target, r)
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := recording(client).Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return restAnswer{status: res.StatusCode, contentType: res.Header.Get("Content-Type"),
		retryAfter: res.Header.Get("Retry-After"), body: data}
}

func TestOpenAPIErrorAnswersOverREST(t *testing.T) {
	c := startCluster(t)
	defer c.dumpOnFailure()
	s := c.shop(t, "rest")
	_, token := customer(t, s, "openapi")
	product := stocked(t, s, 1)

	t.Run("a page size over the limit is 400 naming the field", func(t *testing.T) {
		a := restDo(t, c, "inventory", http.MethodGet, "/v1/products?pageSize=1000", "", "")
		require.Equal(t, http.StatusBadRequest, a.status, "%s", a.body)
		assert.Equal(t, "application/problem+json", a.contentType)
		code, fields := a.problem(t)
		assert.Equal(t, "INVALID_ARGUMENT", code)
		assert.Equal(t, []string{"page_size"}, fields)
	})
	t.Run("registering a malformed email is 400 naming the field", func(t *testing.T) {
		a := restDo(t, c, "user", http.MethodPost, "/v1/users", "",
			`{"email":"not-an-email","password":"`+password+`","displayName":"E2E"}`)
		require.Equal(t, http.StatusBadRequest, a.status, "%s", a.body)
		assert.Equal(t, "application/problem+json", a.contentType)
		code, fields := a.problem(t)
		assert.Equal(t, "INVALID_ARGUMENT", code)
		assert.Equal(t, []string{"email"}, fields)
	})
	t.Run("registering an email twice is 409", func(t *testing.T) {
		body := `{"email":"twice-` + randomHex(t, 4) + `@example.com","password":"` + password + `","displayName":"E2E"}`
		first := restDo(t, c, "user", http.MethodPost, "/v1/users", "", body)
		require.Equal(t, http.StatusOK, first.status, "%s", first.body)
		again := restDo(t, c, "user", http.MethodPost, "/v1/users", "", body)
		require.Equal(t, http.StatusConflict, again.status, "%s", again.body)
		assert.Equal(t, "application/problem+json", again.contentType)
		code, _ := again.problem(t)
		assert.Equal(t, "ALREADY_EXISTS", code)
	})
	t.Run("registering past one address's burst is 429 with Retry-After", func(t *testing.T) {
		// Its own source address, so the flood spends no other subtest's
		// allowance (the per-address limit: a burst of 20, then 1/s).
		client := c.abuseClient(t, "rest", "127.0.0.3").http
		var flooded restAnswer
		created := 0
		for i := range 40 {
			a := restDoVia(t, client, c, "user", http.MethodPost, "/v1/users", "",
				`{"email":"flood-`+strconv.Itoa(i)+`-`+randomHex(t, 2)+`@example.com","password":"`+password+`","displayName":"E2E"}`)
			if a.status != http.StatusOK {
				flooded = a
				break
			}
			created++
		}
		require.Equal(t, http.StatusTooManyRequests, flooded.status, "after %d registrations: %s", created, flooded.body)
		assert.GreaterOrEqual(t, created, 20, "the address's burst (20 by default) registers")
		assert.Equal(t, "application/problem+json", flooded.contentType)
		wait, err := strconv.Atoi(flooded.retryAfter)
		require.NoError(t, err, "Retry-After %q is whole seconds", flooded.retryAfter)
		assert.Positive(t, wait)
		code, _ := flooded.problem(t)
		assert.Equal(t, "RESOURCE_EXHAUSTED", code)
	})
	t.Run("a customer adjusting stock is 403 and the stock stays", func(t *testing.T) {
		a := restDo(t, c, "inventory", http.MethodPost, "/v1/products/"+product.GetId()+":adjustStock", token,
			`{"delta":"5","reason":"e2e"}`)
		require.Equal(t, http.StatusForbidden, a.status, "%s", a.body)
		code, _ := a.problem(t)
		assert.Equal(t, "PERMISSION_DENIED", code)
		assert.Equal(t, product.GetStock(), stockOf(t, s, product.GetId()))
	})
	t.Run("a customer calling the internal Reserve is 403 and the stock stays", func(t *testing.T) {
		a := restDo(t, c, "inventory", http.MethodPost, "/v1/reservations", token,
			`{"orderId":"openapi-`+randomHex(t, 4)+`","items":[{"productId":"`+product.GetId()+`","quantity":1}]}`)
		require.Equal(t, http.StatusForbidden, a.status, "%s", a.body)
		code, _ := a.problem(t)
		assert.Equal(t, "PERMISSION_DENIED", code)
		assert.Equal(t, product.GetStock(), stockOf(t, s, product.GetId()))
	})
	t.Run("the internal Release without a token is 401", func(t *testing.T) {
		a := restDo(t, c, "inventory", http.MethodPost, "/v1/reservations/openapi-"+randomHex(t, 4)+":release", "", `{}`)
		require.Equal(t, http.StatusUnauthorized, a.status, "%s", a.body)
		code, _ := a.problem(t)
		assert.Equal(t, "UNAUTHENTICATED", code)
	})
}

func TestOpenAPIOrderServiceReservesOverREST(t *testing.T) {
	c := startCluster(t)
	defer c.dumpOnFailure()
	s := c.shop(t, "rest")
	serviceToken, err := s.Login(context.Background(), "order@"+auth.ServiceAccountDomain, c.secret)
	require.NoError(t, err, "the order service's account logs in over REST")
	product := stocked(t, s, 3)
	before := product.GetStock()
	orderID := "openapi-" + randomHex(t, 4)

	type reservation struct {
		Reservation struct {
			OrderID string `json:"orderId"`
			Status  string `json:"status"`
			Items   []struct {
				ProductID string `json:"productId"`
				Quantity  int    `json:"quantity"`
			} `json:"items"`
		} `json:"reservation"`
		Prices []struct {
			ProductID string `json:"productId"`
		} `json:"prices"`
	}
	decode := func(t *testing.T, a restAnswer) reservation {
		t.Helper()
		require.Equal(t, http.StatusOK, a.status, "%s", a.body)
		var r reservation
		require.NoError(t, json.Unmarshal(a.body, &r), "%s", a.body)
		assert.Equal(t, orderID, r.Reservation.OrderID)
		return r
	}

	reserved := decode(t, restDo(t, c, "inventory", http.MethodPost, "/v1/reservations", serviceToken,
		`{"orderId":"`+orderID+`","items":[{"productId":"`+product.GetId()+`","quantity":3}]}`))
	assert.Equal(t, "RESERVATION_STATUS_RESERVED", reserved.Reservation.Status)
	require.Len(t, reserved.Reservation.Items, 1)
	assert.Equal(t, 3, reserved.Reservation.Items[0].Quantity)
	require.Len(t, reserved.Prices, 1)
	assert.Equal(t, product.GetId(), reserved.Prices[0].ProductID)
	assert.Equal(t, before-3, stockOf(t, s, product.GetId()), "Reserve takes the stock")

	released := decode(t, restDo(t, c, "inventory", http.MethodPost, "/v1/reservations/"+orderID+":release", serviceToken, `{}`))
	assert.Equal(t, "RESERVATION_STATUS_RELEASED", released.Reservation.Status)
	assert.Equal(t, before, stockOf(t, s, product.GetId()), "Release returns the stock")

	bad := restDo(t, c, "inventory", http.MethodPost, "/v1/reservations", serviceToken,
		`{"orderId":"`+orderID+`-empty","items":[]}`)
	require.Equal(t, http.StatusBadRequest, bad.status, "%s", bad.body)
	_, fields := bad.problem(t)
	assert.Equal(t, []string{"items"}, fields, "an empty reservation names the field even for the service")
}
