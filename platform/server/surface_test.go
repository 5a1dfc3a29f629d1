package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
	orderv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/order/v1"
	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/platform/server"
)

// adminHook is an auth hook and an admin's token for it.
func adminHook(t *testing.T) (server.Option, string) {
	t.Helper()
	iss := newIssuer(t)
	return iss.hook, iss.token(t, "ops", auth.RoleAdmin)
}

// getWith GETs url with an optional bearer token and returns the status,
// the headers and the body.
func getWith(t *testing.T, url, token string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, string(body)
}

func TestOperatorSurfaceNeedsTheAdminRole(t *testing.T) {
	iss := newIssuer(t)
	h := start(t, func(b *config.Base) {
		b.Surface.PprofEnabled = true
		b.DatabaseURL = "postgres://app:s3cret-db-pw@db:5432/shop"
	}, iss.hook)
	customer := iss.token(t, "alice", auth.RoleCustomer)
	service := iss.token(t, "order", auth.RoleService)
	admin := iss.token(t, "ops", auth.RoleAdmin)

	for _, path := range []string{"/debug/config", "/admin/faults", "/debug/pprof/", "/debug/pprof/cmdline"} {
		t.Run(path, func(t *testing.T) {
			for _, tt := range []struct {
				name, token string
				want        int
			}{
				{"no token", "", http.StatusUnauthorized},
				{"a forged token", "eyJhbGciOiJub25lIn0.eyJyb2xlIjoiYWRtaW4ifQ.", http.StatusUnauthorized},
				{"a customer", customer, http.StatusForbidden},
				{"a service", service, http.StatusForbidden},
			} {
				code, hdr, body := getWith(t, h.baseURL+path, tt.token)
				assert.Equal(t, tt.want, code, tt.name)
				assert.Equal(t, "application/problem+json", hdr.Get("Content-Type"), tt.name)
				var p server.Problem
				require.NoError(t, json.Unmarshal([]byte(body), &p), body)
				assert.Equal(t, tt.want, p.Status)
				if tt.want == http.StatusUnauthorized {
					assert.Equal(t, `Bearer realm="slipway"`, hdr.Get("WWW-Authenticate"))
				}
				for _, leak := range []string{"database_url", "grpc_addr", "s3cret", "goroutine", "catalog"} {
					assert.NotContains(t, body, leak, "%s: refused answers show nothing of the surface", tt.name)
				}
			}
			code, _, body := getWith(t, h.baseURL+path, admin)
			assert.Equal(t, http.StatusOK, code, body)
		})
	}
	_, _, body := getWith(t, h.baseURL+"/debug/config", admin)
	assert.Contains(t, body, `"database_url": "postgres://app:xxxxx@db:5432/shop"`)
	assert.NotContains(t, body, "s3cret-db-pw")
}

func TestPprofIsOffByDefaultAndReflectionCanBeTurnedOff(t *testing.T) {
	hook, admin := adminHook(t)
	for _, reflectionOn := range []bool{true, false} {
		t.Run(fmt.Sprintf("reflection=%v", reflectionOn), func(t *testing.T) {
			h := start(t, func(b *config.Base) { b.Surface.GRPCReflection = reflectionOn }, hook)
			code, _, _ := getWith(t, h.baseURL+"/debug/pprof/", admin)
			assert.NotEqual(t, http.StatusOK, code, "pprof is not served, even to an admin")
			code, _, _ = getWith(t, h.baseURL+"/debug/pprof/cmdline", admin)
			assert.NotEqual(t, http.StatusOK, code)

			stream, err := reflectionpb.NewServerReflectionClient(h.grpcConn).ServerReflectionInfo(context.Background())
			require.NoError(t, err)
			// Without reflection the server may end the stream before the
			// request is sent: Send then reports io.EOF, and Recv the status.
			if err := stream.Send(&reflectionpb.ServerReflectionRequest{
				MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
			}); err != nil && (reflectionOn || !errors.Is(err, io.EOF)) {
				t.Fatalf("send: %v", err)
			}
			resp, err := stream.Recv()
			if reflectionOn {
				require.NoError(t, err)
				assert.NotEmpty(t, resp.GetListServicesResponse().GetService())
				return
			}
			assert.Equal(t, codes.Unimplemented, status.Code(err), "reflection is not registered: %v", err)
		})
	}
}

func TestAdminListenerTakesTheOperatorSurfaceAndMetrics(t *testing.T) {
	hook, admin := adminHook(t)
	h := start(t, func(b *config.Base) {
		b.Surface.AdminAddr, b.Surface.MetricsOnAdmin = "127.0.0.1:0", true
	}, hook)
	adminURL := "http://" + h.app.AdminAddr()
	require.NotEqual(t, "http://", adminURL)

	code, _, _ := getWith(t, h.baseURL+"/debug/config", admin)
	assert.NotEqual(t, http.StatusOK, code, "the public port no longer serves /debug/config")
	code, _, _ = getWith(t, h.baseURL+"/metrics", "")
	assert.NotEqual(t, http.StatusOK, code, "nor /metrics")

	code, _, _ = getWith(t, adminURL+"/debug/config", "")
	assert.Equal(t, http.StatusUnauthorized, code, "the admin listener still demands the admin role")
	code, _, body := getWith(t, adminURL+"/debug/config", admin)
	assert.Equal(t, http.StatusOK, code, body)
	code, _, body = getWith(t, adminURL+"/metrics", "")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "slipway_config_info")
	code, _, _ = getWith(t, h.baseURL+"/healthz", "")
	assert.Equal(t, http.StatusOK, code, "probes stay on the HTTP port")
}

// slowloris sends a request's headers and then its body one byte every
// 100ms, and returns how long the server let the connection live.
func slowloris(t *testing.T, addr, path, contentType string) time.Duration {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	const bodyLen = 200 // 20s at the trickle's pace
	_, err = fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", path, addr, contentType, bodyLen)
	require.NoError(t, err)
	started := time.Now()
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		_, _ = io.Copy(io.Discard, bufio.NewReader(conn)) // ends when the server closes the connection
	}()
	for range bodyLen {
		select {
		case <-closed:
			return time.Since(started)
		case <-time.After(100 * time.Millisecond):
		}
		if _, err := conn.Write([]byte("{")); err != nil {
			<-closed
			return time.Since(started)
		}
	}
	return time.Since(started)
}

func TestSlowlorisBodyIsCutByTheReadTimeout(t *testing.T) {
	h := start(t, func(b *config.Base) { b.Surface.HTTPReadTimeout = 500 * time.Millisecond })
	addr := strings.TrimPrefix(h.baseURL, "http://")
	for _, tt := range []struct{ name, path, contentType string }{
		{"rest", "/v1/reservations", "application/json"},
		{"connect", "/slipway.inventory.v1.InventoryService/GetProduct", "application/json"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			lived := slowloris(t, addr, tt.path, tt.contentType)
			assert.Less(t, lived, 3*time.Second, "a body trickled at 10 bytes/s must be cut near the 500ms read timeout")
		})
	}
}

// deadlineProbe is an OrderService whose GetOrder reports the deadline its
// handler was given.
type deadlineProbe struct {
	orderv1.UnimplementedOrderServiceServer
	mu   sync.Mutex
	left time.Duration
}

func (d *deadlineProbe) GetOrder(ctx context.Context, _ *orderv1.GetOrderRequest) (*orderv1.GetOrderResponse, error) {
	deadline, ok := ctx.Deadline()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.left = -1
	if ok {
		d.left = time.Until(deadline)
	}
	return &orderv1.GetOrderResponse{}, nil
}

func (d *deadlineProbe) last() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.left
}

func TestOverLongClientDeadlinesAreCapped(t *testing.T) {
	probe := &deadlineProbe{}
	h := start(t, func(b *config.Base) { b.Surface.RPCMaxTimeout = 2 * time.Second },
		server.WithService(server.Service{Desc: &orderv1.OrderService_ServiceDesc, Impl: probe, Gateway: orderv1.RegisterOrderServiceHandler}))
	calls := map[string]func(t *testing.T){
		"grpc with a 1h deadline": func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
			defer cancel()
			_, err := orderv1.NewOrderServiceClient(h.grpcConn).GetOrder(ctx, &orderv1.GetOrderRequest{Id: "o-1"})
			require.NoError(t, err)
		},
		"connect with Connect-Timeout-Ms of 1h": func(t *testing.T) {
			client := connect.NewClient[orderv1.GetOrderRequest, orderv1.GetOrderResponse](
				http.DefaultClient, h.baseURL+"/slipway.order.v1.OrderService/GetOrder")
			ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
			defer cancel()
			_, err := client.CallUnary(ctx, connect.NewRequest(&orderv1.GetOrderRequest{Id: "o-1"}))
			require.NoError(t, err)
		},
		"rest with grpc-timeout of 1h": func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, h.baseURL+"/v1/orders/o-1", nil)
			require.NoError(t, err)
			req.Header.Set("Grpc-Timeout", "3600S")
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode)
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			call(t)
			left := probe.last()
			assert.Greater(t, left, time.Duration(0), "the handler has a deadline")
			assert.LessOrEqual(t, left, 2*time.Second, "the handler sees the 2s cap, not the client's hour")
		})
	}
	t.Run("a deadline under the cap is kept", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		_, err := orderv1.NewOrderServiceClient(h.grpcConn).GetOrder(ctx, &orderv1.GetOrderRequest{Id: "o-1"})
		require.NoError(t, err)
		assert.LessOrEqual(t, probe.last(), 500*time.Millisecond)
	})
}

// openWatch opens a health Watch on conn and waits for its first answer.
func openWatch(ctx context.Context, conn *grpc.ClientConn) (healthpb.Health_WatchClient, error) {
	w, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return nil, err
	}
	if _, err := w.Recv(); err != nil {
		return nil, err
	}
	return w, nil
}

func TestWatchAndReflectionStreamsAreBoundedPerConnection(t *testing.T) {
	h := start(t, nil) // GRPC_WATCH_STREAMS_PER_CONN defaults to 8
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	cancels := make([]context.CancelFunc, 0, 8)
	for i := range 7 {
		sctx, scancel := context.WithCancel(ctx)
		cancels = append(cancels, scancel)
		_, err := openWatch(sctx, h.grpcConn)
		require.NoError(t, err, "watch %d", i+1)
	}
	refl, err := reflectionpb.NewServerReflectionClient(h.grpcConn).ServerReflectionInfo(ctx)
	require.NoError(t, err)
	require.NoError(t, refl.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}))
	_, err = refl.Recv()
	require.NoError(t, err, "the 8th stream, a reflection one, is allowed")

	_, err = openWatch(ctx, h.grpcConn)
	assert.Equal(t, codes.ResourceExhausted, status.Code(err), "the 9th stream on one connection is refused: %v", err)
	assert.Contains(t, status.Convert(err).Message(), "GRPC_WATCH_STREAMS_PER_CONN")

	other, err := grpc.NewClient(h.app.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer other.Close()
	_, err = openWatch(ctx, other)
	require.NoError(t, err, "another connection has its own bound")

	cancels[0]()
	require.Eventually(t, func() bool {
		_, err := openWatch(ctx, h.grpcConn)
		return err == nil
	}, 2*time.Second, 20*time.Millisecond, "a closed stream frees its place")

	t.Run("over the HTTP port (h2c) too", func(t *testing.T) {
		conn, err := grpc.NewClient(strings.TrimPrefix(h.baseURL, "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
		require.NoError(t, err)
		defer conn.Close()
		for i := range 8 {
			_, err := openWatch(ctx, conn)
			require.NoError(t, err, "watch %d", i+1)
		}
		_, err = openWatch(ctx, conn)
		assert.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)
	})
}

// Streams over the HTTP port outlive its write and read timeouts, which only
// unary calls and REST must respect.
func TestStreamsOverHTTPOutliveTheHTTPTimeouts(t *testing.T) {
	h := start(t, func(b *config.Base) {
		b.Surface.HTTPReadTimeout, b.Surface.HTTPWriteTimeout, b.Surface.RPCMaxTimeout = 300*time.Millisecond, 400*time.Millisecond, 200*time.Millisecond
	})
	conn, err := grpc.NewClient(strings.TrimPrefix(h.baseURL, "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := openWatch(ctx, conn)
	require.NoError(t, err)
	ended := make(chan error, 1)
	go func() { _, err := w.Recv(); ended <- err }()
	select {
	case err := <-ended:
		t.Fatalf("the Watch stream ended after less than 1.2s, within the HTTP timeouts: %v", err)
	case <-time.After(1200 * time.Millisecond):
	}
	h.app.Health().NotServing()
	select {
	case err := <-ended:
		require.NoError(t, err, "the stream is still there to carry the change")
	case <-time.After(2 * time.Second):
		t.Fatal("no update")
	}
}

// A client stuck behind MaxConcurrentStreams waits: its call never reaches
// the handler while the connection's streams are all taken.
func TestConcurrentStreamsPerConnectionAreBounded(t *testing.T) {
	h := start(t, func(b *config.Base) { b.Surface.GRPCMaxConcurrentStreams = 2 })
	client := inventoryv1.NewInventoryServiceClient(h.grpcConn)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			_, _ = client.GetProduct(context.Background(), &inventoryv1.GetProductRequest{Id: "slow"})
		})
	}
	require.Eventually(t, func() bool { return strings.Count(h.logs.String(), `"product_id":"slow"`) == 2 }, 5*time.Second, 5*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := client.GetProduct(metadata.AppendToOutgoingContext(ctx, "x-request-id", "third"), &inventoryv1.GetProductRequest{Id: "mug"})
	assert.Equal(t, codes.DeadlineExceeded, status.Code(err), "the third stream waits for a free one: %v", err)
	assert.NotContains(t, h.logs.String(), `"product_id":"mug"`, "and never reached the handler")
	close(h.release)
	wg.Wait()
	h.release = make(chan struct{})
}

func TestOversizedMessagesAreRefusedOnEveryProtocol(t *testing.T) {
	h := start(t, func(b *config.Base) { b.MaxMessageBytes = 1024 })
	big := strings.Repeat("x", 4096)

	req, err := http.NewRequest(http.MethodPost, h.baseURL+"/v1/reservations", strings.NewReader(`{"order_id":"`+big+`"}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, string(body))
	assert.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
	assert.Contains(t, string(body), `"code":"RESOURCE_EXHAUSTED"`)

	_, err = inventoryv1.NewInventoryServiceClient(h.grpcConn).GetProduct(context.Background(), &inventoryv1.GetProductRequest{Id: big})
	assert.Equal(t, codes.ResourceExhausted, status.Code(err), "grpc: %v", err)

	_, code, _ := connectCall(t, h, big)
	assert.Equal(t, codes.ResourceExhausted, code, "connect")
	_, code, _ = connectCall(t, h, big, connect.WithGRPCWeb())
	assert.Equal(t, codes.ResourceExhausted, code, "grpc-web")
	assert.NotContains(t, h.logs.String(), `"product_id":"xxxx`, "no handler saw the oversized request")
}

// A client that floods a connection with HTTP/2 pings (here with no stream
// open, which PermitWithoutStream=false forbids outright) is told to go
// away with ENHANCE_YOUR_CALM.
func TestPingFloodIsSentGoAway(t *testing.T) {
	h := start(t, nil)
	conn, err := net.Dial("tcp", h.app.GRPCAddr())
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.Write([]byte(http2.ClientPreface))
	require.NoError(t, err)
	fr := http2.NewFramer(conn, conn)
	require.NoError(t, fr.WriteSettings())

	goaway := make(chan *http2.GoAwayFrame, 1)
	go func() {
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				close(goaway)
				return
			}
			if g, ok := f.(*http2.GoAwayFrame); ok {
				goaway <- g
				return
			}
		}
	}()
	for i := range 20 {
		if fr.WritePing(false, [8]byte{byte(i)}) != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case g, ok := <-goaway:
		require.True(t, ok, "the connection closed without GOAWAY")
		assert.Equal(t, http2.ErrCodeEnhanceYourCalm, g.ErrCode)
		assert.Contains(t, string(g.DebugData()), "too_many_pings")
	case <-time.After(5 * time.Second):
		t.Fatal("20 pings in 200ms and no GOAWAY")
	}
}

// Routes added with WithHTTPHandler get the same body bound as REST.
func TestHandlerRoutesHaveABodyLimit(t *testing.T) {
	var read atomic.Int64
	h := start(t, func(b *config.Base) { b.MaxMessageBytes = 1024 },
		server.WithHTTPHandler("POST /hooks/echo", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n, err := io.Copy(io.Discard, r.Body)
			read.Add(n)
			if err != nil {
				http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			}
		})))
	resp, err := http.Post(h.baseURL+"/hooks/echo", "text/plain", strings.NewReader(strings.Repeat("x", 4096)))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	assert.Zero(t, read.Load(), "a declared oversized body is refused before the handler")

	// A body that hides its size is cut at the bound while it is read.
	pr, pw := io.Pipe()
	go func() { _, _ = pw.Write([]byte(strings.Repeat("x", 4096))); _ = pw.Close() }()
	resp, err = http.Post(h.baseURL+"/hooks/echo", "text/plain", pr)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	assert.LessOrEqual(t, read.Load(), int64(1024))
}

// A flood of /readyz reaches no dependency: probes read the result the
// background check stored.
func TestReadyzFloodRunsNoCheck(t *testing.T) {
	var calls atomic.Int64
	h := start(t, func(b *config.Base) { b.Surface.HealthCheckInterval = time.Hour },
		server.WithCheck("database", func(context.Context) error { calls.Add(1); return nil }))
	before := calls.Load()
	for range 100 {
		code, _, _ := getWith(t, h.baseURL+"/readyz", "")
		require.Equal(t, http.StatusOK, code)
	}
	assert.Equal(t, before, calls.Load(), "100 probes ran the database check")
}
