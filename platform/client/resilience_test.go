package client_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/slipway-dev/slipway/platform/client"
)

const scriptedTarget = "passthrough:///scripted"

// scripted is a real gRPC health server whose n-th call (from 1) answers
// what plan says, so every failure pattern is deterministic.
type scripted struct {
	healthpb.UnimplementedHealthServer
	plan func(n int) error

	mu    sync.Mutex
	calls int
}

func (s *scripted) Check(ctx context.Context, _ *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if err := s.next(ctx); err != nil {
		return nil, err
	}
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

func (s *scripted) List(ctx context.Context, _ *healthpb.HealthListRequest) (*healthpb.HealthListResponse, error) {
	return &healthpb.HealthListResponse{}, s.next(ctx)
}

func (s *scripted) next(ctx context.Context) error {
	s.mu.Lock()
	s.calls++
	n := s.calls
	s.mu.Unlock()
	if s.plan == nil {
		return nil
	}
	if err := s.plan(n); err != nil {
		return err
	}
	return ctx.Err()
}

func (s *scripted) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// unavailable is the error of a peer that cannot serve the n-th call.
func unavailable(n int) error { return status.Errorf(codes.Unavailable, "attempt %d refused", n) }

// failFirst fails the first k calls with UNAVAILABLE.
func failFirst(k int) func(int) error {
	return func(n int) error {
		if n <= k {
			return unavailable(n)
		}
		return nil
	}
}

// retryAfter is RESOURCE_EXHAUSTED with a RetryInfo of d.
func retryAfter(d time.Duration) error {
	st, err := status.New(codes.ResourceExhausted, "server busy").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(d)})
	if err != nil {
		panic(err)
	}
	return st.Err()
}

// serveScripted serves s over bufconn and returns the option that dials it.
func serveScripted(t *testing.T, s *scripted) client.Option {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, s)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return client.WithDialOptions(grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
		return lis.DialContext(ctx)
	}))
}

// sleeps records the waits between attempts instead of waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(_ context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return nil
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

func half() float64 { return 0.5 }

func ms(n ...int) []time.Duration {
	out := make([]time.Duration, len(n))
	for i, v := range n {
		out[i] = time.Duration(v) * time.Millisecond
	}
	return out
}

func dialScripted(t *testing.T, s *scripted, opts ...client.Option) healthpb.HealthClient {
	t.Helper()
	return dial(t, scriptedTarget, append([]client.Option{serveScripted(t, s)}, opts...)...)
}

func check(hc healthpb.HealthClient, ctx context.Context) error {
	_, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
	return err
}

func TestRetryPolicy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		plan       func(int) error
		opts       []client.Option
		timeout    time.Duration
		wantCode   codes.Code
		wantMsg    string
		wantCalls  int
		wantSleeps []time.Duration
	}{
		{
			name: "retries UNAVAILABLE until an attempt succeeds", plan: failFirst(3),
			wantCode: codes.OK, wantCalls: 4, wantSleeps: ms(5, 10, 20),
		},
		{
			name: "gives up after the default 8 attempts with the last error", plan: failFirst(100),
			wantCode: codes.Unavailable, wantMsg: "attempt 8 refused", wantCalls: 8,
			wantSleeps: ms(5, 10, 20, 40, 50, 50, 50), // 10 ms doubling, capped at 100 ms, halved by the draw
		},
		{
			name: "WithRetryAttempts bounds the attempts", plan: failFirst(100), opts: []client.Option{client.WithRetryAttempts(3)},
			wantCode: codes.Unavailable, wantMsg: "attempt 3 refused", wantCalls: 3, wantSleeps: ms(5, 10),
		},
		{
			name: "one attempt means exactly one", plan: failFirst(100), opts: []client.Option{client.WithRetryAttempts(1)},
			wantCode: codes.Unavailable, wantMsg: "attempt 1 refused", wantCalls: 1,
		},
		{
			name: "RESOURCE_EXHAUSTED with RetryInfo waits at least the server's delay",
			plan: func(n int) error {
				if n == 1 {
					return retryAfter(180 * time.Millisecond)
				}
				return nil
			},
			wantCode: codes.OK, wantCalls: 2, wantSleeps: ms(180),
		},
		{
			name: "a RetryInfo shorter than the backoff waits the backoff",
			plan: func(n int) error {
				if n == 1 {
					return retryAfter(time.Millisecond)
				}
				return nil
			},
			wantCode: codes.OK, wantCalls: 2, wantSleeps: ms(5),
		},
		{
			name:     "a shedding server gets one retry per call, not eight",
			plan:     func(int) error { return retryAfter(time.Millisecond) },
			wantCode: codes.ResourceExhausted, wantMsg: "server busy", wantCalls: 2, wantSleeps: ms(5),
		},
		{
			name: "UNAVAILABLE after a shed answer is still retried",
			plan: func(n int) error {
				switch n {
				case 1:
					return retryAfter(time.Millisecond)
				case 2, 3:
					return status.Errorf(codes.Unavailable, "attempt %d refused", n)
				}
				return nil
			},
			wantCode: codes.OK, wantCalls: 4, wantSleeps: ms(5, 10, 20),
		},
		{
			name: "a wait past the deadline is not made: the last error returns at once",
			plan: func(int) error { return retryAfter(time.Hour) }, timeout: 30 * time.Second,
			wantCode: codes.ResourceExhausted, wantMsg: "server busy", wantCalls: 1,
		},
		{
			name:     "RESOURCE_EXHAUSTED without RetryInfo is not retried",
			plan:     func(int) error { return status.Error(codes.ResourceExhausted, "quota gone") },
			wantCode: codes.ResourceExhausted, wantCalls: 1,
		},
	}
	for _, code := range []codes.Code{codes.Internal, codes.NotFound, codes.Aborted, codes.InvalidArgument, codes.DeadlineExceeded, codes.PermissionDenied} {
		tests = append(tests, struct {
			name       string
			plan       func(int) error
			opts       []client.Option
			timeout    time.Duration
			wantCode   codes.Code
			wantMsg    string
			wantCalls  int
			wantSleeps []time.Duration
		}{
			name: code.String() + " is not retried", plan: func(int) error { return status.Error(code, "no") },
			wantCode: code, wantCalls: 1,
		})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := &scripted{plan: tt.plan}
			var slept sleeps
			opts := append([]client.Option{
				client.WithRetry(methodCheck), client.WithJitter(half), client.WithSleep(slept.sleep),
			}, tt.opts...)
			hc := dialScripted(t, s, opts...)
			ctx := t.Context()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			err := check(hc, ctx)
			assert.Equal(t, tt.wantCode, status.Code(err), "err: %v", err)
			if tt.wantMsg != "" {
				assert.Equal(t, tt.wantMsg, status.Convert(err).Message())
			}
			assert.Equal(t, tt.wantCalls, s.count(), "attempts that reached the server")
			assert.Equal(t, tt.wantSleeps, slept.all(), "waits between attempts")
		})
	}
}

func TestRetryOnlyTheNamedMethods(t *testing.T) {
	t.Parallel()
	s := &scripted{plan: failFirst(100)}
	hc := dialScripted(t, s, client.WithRetry(methodCheck), client.WithSleep((&sleeps{}).sleep))
	_, err := hc.List(t.Context(), &healthpb.HealthListRequest{})
	assert.Equal(t, codes.Unavailable, status.Code(err))
	assert.Equal(t, 1, s.count(), "List is not named in WithRetry")
}

func TestBackoffIsFullJitter(t *testing.T) {
	t.Parallel()
	draws := []float64{0, 0.25, 0.999}
	var slept sleeps
	s := &scripted{plan: failFirst(3)}
	hc := dialScripted(t, s, client.WithRetry(methodCheck), client.WithSleep(slept.sleep),
		client.WithJitter(func() float64 { d := draws[0]; draws = draws[1:]; return d }))
	require.NoError(t, check(hc, t.Context()))
	got := slept.all()
	require.Len(t, got, 3)
	assert.Equal(t, time.Duration(0), got[0], "a draw of 0 retries at once: the whole range is jittered")
	assert.Equal(t, 5*time.Millisecond, got[1], "a quarter of 20 ms")
	assert.InDelta(t, float64(40*time.Millisecond), float64(got[2]), float64(time.Millisecond), "just under the 40 ms ceiling")
}

func TestRealBackoffStopsWhenTheCallerGivesUp(t *testing.T) {
	t.Parallel()
	s := &scripted{plan: func(int) error { return retryAfter(time.Minute) }}
	reg := prometheus.NewRegistry()
	hc := dialScripted(t, s, client.WithRetry(methodCheck), client.WithMetrics(reg))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- check(hc, ctx) }()
	// The retry is counted just before the wait: cancel during the wait,
	// not while the first answer is on its way (the caller would then get
	// that answer, rightly).
	require.Eventually(t, func() bool {
		return sample(t, reg, "slipway_client_retries_total", map[string]string{"code": "ResourceExhausted"}) == 1
	}, 5*time.Second, time.Millisecond)
	cancel()
	err := <-done
	assert.Equal(t, codes.Canceled, status.Code(err), "err: %v", err)
	assert.Equal(t, 1, s.count())
}

func TestEveryAttemptIsTracedAndCounted(t *testing.T) {
	t.Parallel()
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	reg := prometheus.NewRegistry()
	s := &scripted{plan: failFirst(2)}
	hc := dialScripted(t, s, client.WithRetry(methodCheck), client.WithSleep((&sleeps{}).sleep),
		client.WithTracerProvider(tp), client.WithMetrics(reg))
	// A second connection on the same registry shares the metrics.
	dial(t, "127.0.0.1:1", client.WithMetrics(reg))

	ctx, parent := tp.Tracer("test").Start(t.Context(), "place order")
	require.NoError(t, check(hc, ctx))
	parent.End()

	var attempts int
	var events []int64
	for _, sp := range spans.GetSpans() {
		switch {
		case sp.SpanKind == trace.SpanKindClient:
			attempts++
			assert.Equal(t, parent.SpanContext().SpanID(), sp.Parent.SpanID(), "each attempt is a child of the caller's span")
		case sp.Name == "place order":
			for _, e := range sp.Events {
				require.Equal(t, "rpc.retry", e.Name)
				for _, a := range e.Attributes {
					if a.Key == "rpc.retry.attempt" {
						events = append(events, a.Value.AsInt64())
					}
				}
			}
		}
	}
	assert.Equal(t, 3, attempts, "one client span per attempt")
	assert.Equal(t, []int64{2, 3}, events, "the caller's span records each retry's attempt number")

	assert.Equal(t, 2.0, sample(t, reg, "slipway_client_retries_total",
		map[string]string{"peer": scriptedTarget, "method": methodCheck, "code": "Unavailable"}))
}

// sample reads one counter or gauge from reg; -1 when absent.
func sample(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return -1
}

func TestDialRejectsFewerThanOneAttempt(t *testing.T) {
	t.Parallel()
	_, err := client.Dial("127.0.0.1:1", client.WithRetryAttempts(0))
	assert.ErrorContains(t, err, "want at least 1")
}

// breakerRig is a connection with no retries and its circuit state
// readable from the registry. Built inside a synctest bubble, its breaker
// runs on the bubble's fake clock: time.Sleep moves it at once.
type breakerRig struct {
	s   *scripted
	hc  healthpb.HealthClient
	reg *prometheus.Registry
}

func newBreakerRig(t *testing.T, plan func(int) error, opts ...client.Option) *breakerRig {
	t.Helper()
	r := &breakerRig{s: &scripted{plan: plan}, reg: prometheus.NewRegistry()}
	r.hc = dialScripted(t, r.s, append([]client.Option{client.WithMetrics(r.reg)}, opts...)...)
	return r
}

func (r *breakerRig) state(t *testing.T) float64 {
	t.Helper()
	return sample(t, r.reg, "slipway_client_circuit_state", map[string]string{"peer": scriptedTarget})
}

// calls makes n calls and returns how many failed.
func (r *breakerRig) calls(t *testing.T, n int) int {
	t.Helper()
	failed := 0
	for range n {
		if check(r.hc, t.Context()) != nil {
			failed++
		}
	}
	return failed
}

const (
	closed   = 0.0
	halfOpen = 1.0
	open     = 2.0
)

// openFor is how long an open circuit fails fast: 2 s, and gobreaker
// half-opens only once its timeout has strictly passed.
const openFor = 2*time.Second + time.Nanosecond

func TestCircuitBreaker(t *testing.T) {
	t.Parallel()

	t.Run("opens on a dead peer, fails fast, half-opens and closes", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			down := true
			var mu sync.Mutex
			r := newBreakerRig(t, func(n int) error {
				mu.Lock()
				defer mu.Unlock()
				if down {
					return unavailable(n)
				}
				return nil
			})
			assert.Equal(t, closed, r.state(t))
			assert.Equal(t, 19, r.calls(t, 19))
			assert.Equal(t, closed, r.state(t), "19 attempts are too few to judge")
			assert.Equal(t, 1, r.calls(t, 1))
			assert.Equal(t, open, r.state(t), "20 attempts, all failed")

			err := check(r.hc, t.Context())
			assert.Equal(t, codes.Unavailable, status.Code(err))
			assert.Equal(t, "circuit to "+scriptedTarget+" is open", status.Convert(err).Message())
			assert.Equal(t, 20, r.s.count(), "an open circuit fails fast without calling the peer")
			assert.Equal(t, 1.0, sample(t, r.reg, "slipway_client_circuit_rejected_total", map[string]string{"peer": scriptedTarget}))

			time.Sleep(openFor)
			assert.Equal(t, 1, r.calls(t, 1), "the probe fails")
			assert.Equal(t, 21, r.s.count(), "one probe reached the peer")
			assert.Equal(t, open, r.state(t), "a failed probe opens the circuit again")
			assert.Equal(t, 1, r.calls(t, 1))
			assert.Equal(t, 21, r.s.count())

			mu.Lock()
			down = false
			mu.Unlock()
			time.Sleep(openFor)
			assert.Equal(t, 0, r.calls(t, 1), "the probe succeeds")
			assert.Equal(t, closed, r.state(t))
			assert.Equal(t, 0, r.calls(t, 5))
			assert.Equal(t, 27, r.s.count())
		})
	})

	t.Run("40 % failures never open it", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			r := newBreakerRig(t, func(n int) error {
				if n%5 < 2 { // 2 of every 5
					return unavailable(n)
				}
				return nil
			})
			assert.Equal(t, 80, r.calls(t, 200))
			assert.Equal(t, 200, r.s.count(), "every attempt reached the peer")
			assert.Equal(t, closed, r.state(t))
		})
	})

	t.Run("with retries every call succeeds at 40 % failures", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			r := newBreakerRig(t, func(n int) error {
				if n%5 < 2 {
					return unavailable(n)
				}
				return nil
			}, client.WithRetry(methodCheck), client.WithSleep((&sleeps{}).sleep))
			assert.Equal(t, 0, r.calls(t, 100))
			assert.Equal(t, closed, r.state(t))
		})
	})

	t.Run("it opens at 90 % failures, not at 80 %", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			eighty := newBreakerRig(t, func(n int) error {
				if n%10 < 8 {
					return unavailable(n)
				}
				return nil
			})
			assert.Equal(t, 80, eighty.calls(t, 100))
			assert.Equal(t, closed, eighty.state(t))

			ninety := newBreakerRig(t, func(n int) error {
				if n%10 != 0 {
					return unavailable(n)
				}
				return nil
			})
			ninety.calls(t, 20)
			assert.Equal(t, closed, ninety.state(t), "18 of 20 failed, but the 20th succeeded: the breaker judges on a failure")
			ninety.calls(t, 1)
			assert.Equal(t, open, ninety.state(t), "19 of 21 failed")
		})
	})

	t.Run("failures older than the window are forgotten", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			r := newBreakerRig(t, failFirst(1000))
			r.calls(t, 19)
			time.Sleep(11 * time.Second)
			r.calls(t, 19)
			assert.Equal(t, closed, r.state(t), "19 + 19 failures, but never 20 in one window")
			r.calls(t, 1)
			assert.Equal(t, open, r.state(t))
		})
	})

	t.Run("deadline exceeded counts as failure, other codes as the peer answering", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			r := newBreakerRig(t, func(n int) error {
				if n <= 10 {
					return status.Error(codes.DeadlineExceeded, "too slow")
				}
				if n <= 20 {
					return status.Error(codes.Unavailable, "gone")
				}
				return status.Error(codes.NotFound, "no such thing")
			})
			r.calls(t, 20)
			assert.Equal(t, open, r.state(t))

			r2 := newBreakerRig(t, func(n int) error { return status.Error(codes.Internal, fmt.Sprint(n)) })
			r2.calls(t, 50)
			assert.Equal(t, closed, r2.state(t), "a peer that answers, even with errors, is up")
		})
	})

	t.Run("half-open lets exactly one probe through", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			unblock := make(chan struct{})
			r := newBreakerRig(t, func(n int) error {
				switch {
				case n <= 20:
					return unavailable(n)
				case n == 21:
					<-unblock
				}
				return nil
			})
			r.calls(t, 20)
			require.Equal(t, open, r.state(t))
			time.Sleep(openFor)

			probe := make(chan error, 1)
			go func() { probe <- check(r.hc, context.Background()) }()
			require.Eventually(t, func() bool { return r.s.count() == 21 }, 5*time.Second, time.Millisecond, "the probe reached the peer")
			assert.Equal(t, halfOpen, r.state(t))
			err := check(r.hc, t.Context())
			assert.Equal(t, "circuit to "+scriptedTarget+" is open", status.Convert(err).Message(), "a second call while the probe is out fails fast")
			assert.Equal(t, 21, r.s.count())

			close(unblock)
			require.NoError(t, <-probe)
			assert.Equal(t, closed, r.state(t))
			assert.NoError(t, check(r.hc, t.Context()))
		})
	})

	t.Run("a cancelled probe gives no verdict: the next call probes", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			unblock := make(chan struct{})
			r := newBreakerRig(t, func(n int) error {
				switch {
				case n <= 20:
					return unavailable(n)
				case n == 21:
					<-unblock
				}
				return nil
			})
			r.calls(t, 20)
			require.Equal(t, open, r.state(t))
			time.Sleep(openFor)

			ctx, cancel := context.WithCancel(t.Context())
			probe := make(chan error, 1)
			go func() { probe <- check(r.hc, ctx) }()
			require.Eventually(t, func() bool { return r.s.count() == 21 }, 5*time.Second, time.Millisecond, "the probe reached the peer")
			cancel()
			assert.Equal(t, codes.Canceled, status.Code(<-probe))
			close(unblock)
			assert.Equal(t, halfOpen, r.state(t), "a cancelled probe neither closes nor reopens")

			assert.NoError(t, check(r.hc, t.Context()), "the next call is the probe")
			assert.Equal(t, closed, r.state(t))
		})
	})

	t.Run("an open circuit is not retried", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			var slept sleeps
			r := newBreakerRig(t, failFirst(1000), client.WithRetry(methodCheck), client.WithRetryAttempts(5), client.WithSleep(slept.sleep))
			r.calls(t, 4) // 20 attempts
			require.Equal(t, open, r.state(t))
			before := len(slept.all())
			err := check(r.hc, t.Context())
			assert.Contains(t, status.Convert(err).Message(), "is open")
			assert.Len(t, slept.all(), before, "failing fast means no backoff either")
		})
	})
}
