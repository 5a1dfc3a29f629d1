package app_test

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	orderv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/order/v1"
	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/cache/redistest"
)

// Past the per-user limit CreateOrder is ResourceExhausted with a RetryInfo
// over gRPC and 429 with Retry-After over REST; a retry of a placed order
// still answers and another user is not limited. In memory and in Redis.
func TestCreateOrderIsRateLimitedPerUser(t *testing.T) {
	redisURL, _ := redistest.URL(t)
	for backend, url := range map[string]string{"memory": "", "redis": redisURL} {
		t.Run(backend, func(t *testing.T) {
			s := start(t, func(string) map[string]string {
				// One order a minute after a burst of one: the refill never
				// comes within the test.
				return map[string]string{"ORDER_RATE_LIMIT": "0.0167", "ORDER_RATE_BURST": "1", "REDIS_URL": url}
			})
			user := alice + "-" + backend + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
			items := []*orderv1.LineItem{line("paper-filters", 1)}
			if url != "" {
				t.Cleanup(func() {
					opt, err := redis.ParseURL(url)
					require.NoError(t, err)
					c := redis.NewClient(opt)
					defer func() { _ = c.Close() }()
					n, err := c.Del(context.Background(), "rate:slipway:ratelimit:orders:"+user, "rate:slipway:ratelimit:orders:"+user+"-other").Result()
					assert.NoError(t, err)
					assert.Positive(t, n, "the limiter's keys are where this cleanup looks for them")
				})
			}

			first, err := s.client.CreateOrder(s.as(t, user), &orderv1.CreateOrderRequest{IdempotencyKey: "limit-0001", Items: items})
			require.NoError(t, err)

			_, err = s.client.CreateOrder(s.as(t, user), &orderv1.CreateOrderRequest{IdempotencyKey: "limit-0002", Items: items})
			st := status.Convert(err)
			require.Equal(t, codes.ResourceExhausted, st.Code(), "%v", err)
			var retry *errdetails.RetryInfo
			for _, d := range st.Details() {
				if ri, ok := d.(*errdetails.RetryInfo); ok {
					retry = ri
				}
			}
			require.NotNil(t, retry, "a RetryInfo detail says when to come back")
			assert.Greater(t, retry.GetRetryDelay().AsDuration(), 50*time.Second)
			assert.LessOrEqual(t, retry.GetRetryDelay().AsDuration(), time.Minute)

			body := []byte(`{"idempotencyKey":"limit-0003","items":[{"productId":"paper-filters","quantity":1}]}`)
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+s.HTTPAddr+"/v1/orders", bytes.NewReader(body))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+s.token(t, user, auth.RoleCustomer))
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			_ = resp.Body.Close()
			assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
			wait, err := strconv.Atoi(resp.Header.Get("Retry-After"))
			require.NoError(t, err, "Retry-After is whole seconds: %q", resp.Header.Get("Retry-After"))
			assert.Greater(t, wait, 50)
			assert.LessOrEqual(t, wait, 60)

			again, err := s.client.CreateOrder(s.as(t, user), &orderv1.CreateOrderRequest{IdempotencyKey: "limit-0001", Items: items})
			require.NoError(t, err, "an idempotent retry is not refused")
			assert.Equal(t, first.GetOrder().GetId(), again.GetOrder().GetId())

			_, err = s.client.CreateOrder(s.as(t, user+"-other"), &orderv1.CreateOrderRequest{IdempotencyKey: "limit-0001", Items: items})
			require.NoError(t, err, "the limit is per user")
		})
	}
}

// ORDER_RATE_LIMIT=0 turns the limit off.
func TestCreateOrderWithoutRateLimit(t *testing.T) {
	s := start(t, func(string) map[string]string {
		return map[string]string{"ORDER_RATE_LIMIT": "0", "ORDER_RATE_BURST": "0"}
	})
	for i := range 25 { // more than the default burst
		_, err := s.client.CreateOrder(s.as(t, alice), &orderv1.CreateOrderRequest{
			IdempotencyKey: "unlimited-" + strconv.Itoa(1000+i), Items: []*orderv1.LineItem{line("paper-filters", 1)}})
		require.NoError(t, err, "order %d", i+1)
	}
	_, ok := s.Logs.Find("order rate limit off (ORDER_RATE_LIMIT=0)")
	assert.True(t, ok)
}
