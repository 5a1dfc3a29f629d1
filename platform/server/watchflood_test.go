package server_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/slipway-dev/slipway/platform/config"
)

// watchFloodOpen sends the headers of a streaming call over HTTP/1.1 that
// declares a 1000-byte body, and one byte of it: the request message
// never arrives.
func watchFloodOpen(t *testing.T, addr, path, contentType string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	_, err = fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: 1000\r\n\r\n\x00", path, addr, contentType)
	require.NoError(t, err)
	return conn
}

// watchFloodEnded waits up to wait for the server to answer on conn or
// close it.
func watchFloodEnded(conn net.Conn, wait time.Duration) bool {
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	_, err := conn.Read(make([]byte, 1))
	var ne net.Error
	timedOut := errors.As(err, &ne) && ne.Timeout()
	return !timedOut
}

// TestWatchSlowBodyIsCutByTheReadTimeout attacks the HTTP port with a flood
// of health Watch (and reflection) calls whose request message never
// arrives. Health is public and Watch is never shed, so without the read
// deadline every one of them would hold a connection and a goroutine for
// ever; with it, each is cut at HTTP_READ_TIMEOUT.
func TestWatchSlowBodyIsCutByTheReadTimeout(t *testing.T) {
	h := start(t, func(b *config.Base) {
		b.Surface.HTTPReadTimeout = time.Second
		b.MaxInflight = 2
		b.Surface.GRPCWatchStreamsPerConn = 8
		b.Streams.GRPCMaxWatchStreams = 1000 // the process-wide bound is not what cuts them here
	})
	addr := strings.TrimPrefix(h.baseURL, "http://")
	calls := []struct{ path, contentType string }{
		{"/grpc.health.v1.Health/Watch", "application/grpc-web+proto"},
		{"/grpc.health.v1.Health/Watch", "application/connect+proto"},
		{"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", "application/grpc-web+proto"},
	}
	const perCall = 15
	var conns []net.Conn
	for _, c := range calls {
		for range perCall {
			conns = append(conns, watchFloodOpen(t, addr, c.path, c.contentType))
		}
	}
	time.Sleep(1500 * time.Millisecond) // past the read timeout
	var wg sync.WaitGroup
	unanswered := make([]bool, len(conns))
	for i, c := range conns {
		wg.Go(func() { unanswered[i] = !watchFloodEnded(c, 2*time.Second) })
	}
	wg.Wait()
	for i, stillOpen := range unanswered {
		c := calls[i/perCall]
		assert.False(t, stillOpen, "%s (%s) #%d has had no answer 3.5s after its headers, with a 1s read timeout", c.path, c.contentType, i%perCall)
	}

	t.Run("a Watch that sends its request outlives the read timeout", func(t *testing.T) {
		// gRPC-Web over HTTP/1.1, as a browser sends it: one empty
		// HealthCheckRequest, then the answers stream back.
		resp, err := http.Post(h.baseURL+"/grpc.health.v1.Health/Watch", "application/grpc-web+proto",
			strings.NewReader("\x00\x00\x00\x00\x00"))
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		frames := bufio.NewReader(resp.Body)
		first, err := watchFloodFrame(frames)
		require.NoError(t, err)
		assert.Equal(t, []byte{0x08, 0x01}, first, "SERVING")
		next := make(chan []byte, 1)
		go func() {
			f, err := watchFloodFrame(frames)
			if err != nil {
				f = []byte(err.Error())
			}
			next <- f
		}()
		select {
		case f := <-next:
			t.Fatalf("the Watch ended within 2s, a read timeout of 1s: %q", f)
		case <-time.After(2 * time.Second):
		}
		h.app.Health().NotServing()
		select {
		case f := <-next:
			assert.Equal(t, []byte{0x08, 0x02}, f, "NOT_SERVING, carried by the same stream")
		case <-time.After(2 * time.Second):
			t.Fatal("no update")
		}
	})
}

// watchFloodFrame reads one gRPC-Web frame's message.
func watchFloodFrame(r *bufio.Reader) ([]byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	if hdr[0]&0x80 != 0 {
		return nil, fmt.Errorf("trailers frame: the stream ended")
	}
	msg := make([]byte, binary.BigEndian.Uint32(hdr[1:]))
	_, err := io.ReadFull(r, msg)
	return msg, err
}

// TestWatchStreamsAreBoundedPerProcess attacks the process with Watch and
// reflection streams spread over many connections, each under its own
// per-connection bound: GRPC_MAX_WATCH_STREAMS refuses the stream past it,
// on the gRPC and the HTTP port alike.
func TestWatchStreamsAreBoundedPerProcess(t *testing.T) {
	const limit = 4
	h := start(t, func(b *config.Base) { b.Streams.GRPCMaxWatchStreams = limit })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dial := func(addr string) *grpc.ClientConn {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		require.NoError(t, err)
		t.Cleanup(func() { _ = conn.Close() })
		return conn
	}
	grpcAddr, httpAddr := h.app.GRPCAddr(), strings.TrimPrefix(h.baseURL, "http://")

	cancels := make([]context.CancelFunc, 0, limit)
	for i := range limit {
		addr := grpcAddr
		if i%2 == 1 {
			addr = httpAddr // h2c on the HTTP port
		}
		sctx, scancel := context.WithCancel(ctx)
		cancels = append(cancels, scancel)
		_, err := openWatch(sctx, dial(addr))
		require.NoError(t, err, "watch %d, on a connection of its own", i+1)
	}

	for _, tt := range []struct{ name, addr string }{{"grpc port", grpcAddr}, {"http port", httpAddr}} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := openWatch(ctx, dial(tt.addr))
			assert.Equal(t, codes.ResourceExhausted, status.Code(err), "the Watch past the process's bound, on a fresh connection: %v", err)
			assert.Contains(t, status.Convert(err).Message(), "GRPC_MAX_WATCH_STREAMS")

			refl, err := reflectionpb.NewServerReflectionClient(dial(tt.addr)).ServerReflectionInfo(ctx)
			require.NoError(t, err)
			// The server may refuse the stream before the request is sent;
			// Send's io.EOF then defers to the status Recv returns.
			if err := refl.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); !errors.Is(err, io.EOF) {
				require.NoError(t, err)
			}
			_, err = refl.Recv()
			assert.Equal(t, codes.ResourceExhausted, status.Code(err), "reflection shares the bound: %v", err)
		})
	}

	cancels[0]()
	require.Eventually(t, func() bool {
		sctx, scancel := context.WithTimeout(ctx, time.Second)
		defer scancel()
		_, err := openWatch(sctx, dial(grpcAddr))
		return err == nil
	}, 3*time.Second, 50*time.Millisecond, "a closed stream frees its place")
}

// TestWatchRequestIsBoundedToOneMessage attacks the HTTP port with a Watch
// whose declared body is larger than one message: a server stream's body is
// its one request, so it is refused with RESOURCE_EXHAUSTED before anything
// reads it, as a unary call's is.
func TestWatchRequestIsBoundedToOneMessage(t *testing.T) {
	h := start(t, func(b *config.Base) { b.MaxMessageBytes = 1024 })
	addr := strings.TrimPrefix(h.baseURL, "http://")
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "POST /grpc.health.v1.Health/Watch HTTP/1.1\r\nHost: %s\r\nContent-Type: application/grpc-web+proto\r\nContent-Length: %d\r\n\r\n", addr, 1024+4096)
	require.NoError(t, err)
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err, "the oversized Watch is answered at once, its body unread")
	defer resp.Body.Close()
	assert.Equal(t, "8", resp.Header.Get("Grpc-Status"), "RESOURCE_EXHAUSTED")
	assert.Contains(t, resp.Header.Get("Grpc-Message"), "GRPC_MAX_MESSAGE_BYTES")
}

// TestReflectionOverTheHTTPPortStillWorks checks that the read deadline
// kept on client streams does not break reflection clients that send
// their requests and half-close (grpcurl), over h2c on the HTTP port.
func TestReflectionOverTheHTTPPortStillWorks(t *testing.T) {
	h := start(t, func(b *config.Base) { b.Surface.HTTPReadTimeout = 300 * time.Millisecond })
	conn, err := grpc.NewClient(strings.TrimPrefix(h.baseURL, "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	refl, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	require.NoError(t, err)
	require.NoError(t, refl.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}))
	require.NoError(t, refl.CloseSend())
	resp, err := refl.Recv()
	require.NoError(t, err)
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	assert.Contains(t, names, "slipway.inventory.v1.InventoryService")
}
