package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/slipway-dev/slipway/platform/config"
)

// livenessStall is how long the heartbeat may go without a tick before
// liveness fails: long enough to ride out a stop-the-world pause or a CPU
// throttled for a few periods, short enough that kubelet restarts a wedged
// process within a probe or two.
const livenessStall = 5 * time.Second

// operatorRoutes registers the operator surface on mux: /debug/config,
// /admin/faults and, when enabled, /debug/pprof/. Every one of them needs a
// bearer token with the admin role, verified by the App's auth hook exactly
// as an RPC's token is; without one the answer is 401, with another role 403,
// both as problem+json and before anything is read or shown.
func (a *App) operatorRoutes(mux *http.ServeMux, cfg any) {
	mux.Handle("GET /debug/config", a.requireAdmin("/debug/config", a.debugConfig(cfg)))
	mux.HandleFunc("/admin/faults", a.adminFaults) // checks the method first, then the admin role
	if a.base.Surface.PprofEnabled {
		pp := http.NewServeMux()
		pp.HandleFunc("/debug/pprof/", pprof.Index)
		pp.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		pp.HandleFunc("/debug/pprof/profile", pprof.Profile)
		pp.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		pp.HandleFunc("/debug/pprof/trace", pprof.Trace)
		mux.Handle("/debug/pprof/", a.requireAdmin("/debug/pprof/", pp))
	}
}

// metricsHandler serves the registry for Prometheus; it needs no token.
func metricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// requireAdmin lets only admins through to next.
func (a *App) requireAdmin(what string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := a.authorizeAdmin(w, r, what); !ok {
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// newAdminServer is the separate admin listener's server (ADMIN_ADDR): the
// operator surface, and /metrics when METRICS_ON_ADMIN.
func (a *App) newAdminServer(reg *prometheus.Registry, cfg any) *http.Server {
	mux := http.NewServeMux()
	a.operatorRoutes(mux, cfg)
	if a.base.Surface.MetricsOnAdmin {
		mux.Handle("GET /metrics", metricsHandler(reg))
	}
	s := a.base.Surface
	return &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       s.HTTPReadTimeout,
		WriteTimeout:      s.HTTPWriteTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          a.http.ErrorLog,
	}
}

// serveAdmin serves the admin listener, over TLS when TLS is on.
func (a *App) serveAdmin() error {
	if a.admin.TLSConfig != nil {
		return a.admin.ServeTLS(a.adminLis, "", "")
	}
	return a.admin.Serve(a.adminLis)
}

// grpcLimits are the server options that bound what one connection may
// hold: concurrent streams, ping rate, idle and total age.
func grpcLimits(s config.Surface) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxConcurrentStreams(s.GRPCMaxConcurrentStreams),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             s.GRPCKeepaliveMinTime,
			PermitWithoutStream: false,
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle:     s.GRPCMaxConnectionIdle,
			MaxConnectionAge:      s.GRPCMaxConnectionAge,
			MaxConnectionAgeGrace: s.GRPCMaxConnectionAgeGrace,
		}),
	}
}

// streamKind is how a method streams, as far as the HTTP listener's
// deadlines and body limits care.
type streamKind int

const (
	// notStreaming is a unary method (and any path that is no method).
	notStreaming streamKind = iota
	// serverStream sends one request message and many replies (health Watch).
	serverStream
	// clientStream sends many request messages: client or bidi streaming
	// (reflection).
	clientStream
)

// streamingMethods maps the full method name of every streaming method
// registered on srv to its kind: the HTTP listener's deadlines and body
// limits depend on it.
func streamingMethods(srv *grpc.Server) map[string]streamKind {
	out := map[string]streamKind{}
	for svc, info := range srv.GetServiceInfo() {
		for _, m := range info.Methods {
			switch {
			case m.IsClientStream:
				out["/"+svc+"/"+m.Name] = clientStream
			case m.IsServerStream:
				out["/"+svc+"/"+m.Name] = serverStream
			}
		}
	}
	return out
}

// liftStreamingDeadlines lifts the deadlines of a streaming RPC carried over
// HTTP (gRPC-Web, Connect, gRPC over h2c): a Watch or a server stream lives
// longer than any ReadTimeout or WriteTimeout. Unary calls and REST keep
// both, so a trickled body is cut.
//
// The write deadline is lifted at once. The read deadline is kept until
// the client has sent its whole request (its body reached EOF): a server
// stream sends one message and half-closes, so a trickled or never-ending
// request body is still cut at ReadTimeout, before it can hold a
// connection, a goroutine and a Watch slot for ever. A client or bidi
// stream (reflection) must likewise send all its messages within
// ReadTimeout; its replies may then take as long as they take.
func liftStreamingDeadlines(w http.ResponseWriter, r *http.Request, streaming map[string]streamKind) {
	if streaming[r.URL.Path] == notStreaming {
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	if r.Body == nil || r.Body == http.NoBody {
		_ = rc.SetReadDeadline(time.Time{})
		return
	}
	r.Body = &liftOnEOF{ReadCloser: r.Body, rc: rc}
}

// liftOnEOF clears the read deadline once the request body is read to its
// end: nothing more will be read, and on HTTP/1.1 the server's background
// read, which watches for the client going away, must not time out.
type liftOnEOF struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *liftOnEOF) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// grpcEnvelope is the framing gRPC, gRPC-Web and Connect streaming put
// before each message.
const grpcEnvelope = 5

// limitBody bounds the body of an HTTP request: a REST body to maxBytes,
// a unary or server-streaming gRPC-Web, Connect or gRPC call's to its one
// message and its envelope, so the transcoder's own limit answers
// RESOURCE_EXHAUSTED first (a cut body would read as UNAVAILABLE, which
// clients retry). A client stream's body is many messages: each is bounded
// by the gRPC server's MaxRecvMsgSize, and the whole by the read deadline
// (liftStreamingDeadlines).
func limitBody(w http.ResponseWriter, r *http.Request, protocol string, maxBytes int64, streaming map[string]streamKind) {
	switch {
	case protocol == "rest":
		r.Body = http.MaxBytesReader(w, r.Body, maxBytes)
	case streaming[r.URL.Path] != clientStream:
		r.Body = http.MaxBytesReader(w, r.Body, maxBytes+grpcEnvelope)
	}
}

// rpcBodyTooLarge answers a unary or server-streaming gRPC-Web, Connect or
// gRPC call whose declared body exceeds one message with RESOURCE_EXHAUSTED
// in the protocol's own form, before anything reads it. (The transcoder's
// own refusal reaches Connect clients as UNAVAILABLE, which they would
// retry.)
func rpcBodyTooLarge(w http.ResponseWriter, r *http.Request, protocol string, maxBytes int64, streaming map[string]streamKind) bool {
	if streaming[r.URL.Path] == clientStream || r.ContentLength <= maxBytes+grpcEnvelope {
		return false
	}
	msg := fmt.Sprintf("request message of %d bytes is larger than the %d allowed (GRPC_MAX_MESSAGE_BYTES)", r.ContentLength, maxBytes)
	w.Header().Set("Connection", "close") // the rest of the body is not read
	if protocol == "connect" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests) // Connect's status for resource_exhausted
		_ = json.NewEncoder(w).Encode(map[string]string{"code": "resource_exhausted", "message": msg})
		return true
	}
	// gRPC and gRPC-Web: a trailers-only answer.
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		ct = "application/grpc"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Grpc-Status", strconv.Itoa(int(codes.ResourceExhausted)))
	w.Header().Set("Grpc-Message", msg)
	w.WriteHeader(http.StatusOK)
	return true
}

// limitedBody bounds the body of every request to next (the routes of
// WithHTTPHandler) as REST bodies are bounded.
func limitedBody(next http.Handler, maxBytes int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if bodyTooLarge(w, r, maxBytes) {
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBytes)
		next.ServeHTTP(w, r)
	})
}

// bodyTooLarge answers 413 (RESOURCE_EXHAUSTED) to a REST request whose
// declared body exceeds max, before anything reads it. A body that hides
// its size (chunked) is still cut at max by the MaxBytesReader.
func bodyTooLarge(w http.ResponseWriter, r *http.Request, maxBytes int64) bool {
	if r.ContentLength <= maxBytes {
		return false
	}
	w.Header().Set("Connection", "close") // the rest of the body is not read
	writeProblem(w, r, problem(http.StatusRequestEntityTooLarge, codes.ResourceExhausted,
		fmt.Sprintf("request body of %d bytes is larger than the %d allowed (GRPC_MAX_MESSAGE_BYTES)", r.ContentLength, maxBytes)))
	return true
}

// capDeadline shortens ctx's deadline to at most max from now, and gives a
// context with none the default timeout (0: none). A client cannot make the
// server hold a slot, a connection and a database transaction for an hour.
func capDeadline(ctx context.Context, def, maximum time.Duration) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	switch {
	case !ok && def > 0:
		if maximum > 0 {
			def = min(def, maximum)
		}
		return context.WithTimeout(ctx, def)
	case ok && maximum > 0 && time.Until(deadline) > maximum:
		return context.WithTimeout(ctx, maximum)
	}
	return ctx, func() {}
}

// connStreams counts the long-lived platform streams (health Watch,
// reflection) one connection holds.
type connStreams struct {
	open atomic.Int64
	// users counts the calls holding this counter in peerConnStreams
	// (guarded by its mutex); unused for the HTTP listener's counters.
	users int
}

type connStreamsKey struct{}

// withConnStreams gives ctx, the context of a new connection, its counter.
func withConnStreams(ctx context.Context) context.Context {
	return context.WithValue(ctx, connStreamsKey{}, &connStreams{})
}

// peerConnStreams are the counters of native gRPC connections, keyed by
// the connection's two addresses (peer.Peer's LocalAddr and Addr), which
// no two open TCP connections share. An entry lives while its connection
// holds a bounded stream. A stats handler that tags every connection would
// do the same with a context value, but while any stats handler is
// installed grpc-go builds stats events for every call (about 20
// allocations and +13 % CPU on a unary call, BenchmarkUnaryParts), to
// count streams that only the health Watch and reflection take.
var peerConnStreams = struct {
	sync.Mutex
	byConn map[string]*connStreams
}{byConn: map[string]*connStreams{}}

// connStreamsOf is the counter of the connection ctx's call came on: the
// HTTP listener's (ConnContext) or, for native gRPC, the one its peer
// addresses key, made on first use. done drops the latter once it counts
// nothing. A call with neither (no peer) is not counted: ok is false.
func connStreamsOf(ctx context.Context) (c *connStreams, done func(), ok bool) {
	if c, ok := ctx.Value(connStreamsKey{}).(*connStreams); ok {
		return c, func() {}, true
	}
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return nil, nil, false
	}
	key := p.Addr.String()
	if p.LocalAddr != nil {
		key = p.LocalAddr.String() + "|" + key
	}
	peerConnStreams.Lock()
	defer peerConnStreams.Unlock()
	c = peerConnStreams.byConn[key]
	if c == nil {
		c = &connStreams{}
		peerConnStreams.byConn[key] = c
	}
	c.users++
	return c, func() {
		peerConnStreams.Lock()
		defer peerConnStreams.Unlock()
		if c.users--; c.users == 0 {
			delete(peerConnStreams.byConn, key)
		}
	}, true
}

// httpConnContext is the HTTP listener's ConnContext.
func httpConnContext(ctx context.Context, _ net.Conn) context.Context { return withConnStreams(ctx) }

// boundedStream reports whether fullMethod is one of the streams counted
// per connection: they are exempt from load shedding and can live for
// hours, so without a bound one connection could hold thousands.
func boundedStream(fullMethod string) bool {
	return fullMethod == "/grpc.health.v1.Health/Watch" || strings.HasPrefix(fullMethod, "/grpc.reflection.")
}

// watchStreams bounds the health Watch and reflection streams of the whole
// process, over the gRPC and HTTP ports together (GRPC_MAX_WATCH_STREAMS):
// the per-connection bound alone lets many connections pile them up.
type watchStreams struct {
	open  atomic.Int64
	limit int64
}

func newWatchStreams(limit int) *watchStreams { return &watchStreams{limit: int64(limit)} }

// acquire takes one of the process's slots, or refuses with
// RESOURCE_EXHAUSTED. A nil *watchStreams bounds nothing.
func (w *watchStreams) acquire() (release func(), err error) {
	if w == nil {
		return func() {}, nil
	}
	if n := w.open.Add(1); n > w.limit {
		w.open.Add(-1)
		return nil, status.Errorf(codes.ResourceExhausted,
			"this server already holds %d health Watch and reflection streams (GRPC_MAX_WATCH_STREAMS); try again later", w.limit)
	}
	return func() { w.open.Add(-1) }, nil
}

// acquireWatchStream takes a slot for a bounded stream (boundedStream) on
// its connection and in the process, or refuses with RESOURCE_EXHAUSTED.
// Other methods pass untouched.
func acquireWatchStream(ctx context.Context, fullMethod string, perConn int, process *watchStreams) (release func(), err error) {
	if !boundedStream(fullMethod) {
		return func() {}, nil
	}
	releaseConn, err := acquireConnStream(ctx, fullMethod, perConn)
	if err != nil {
		return nil, err
	}
	releaseProcess, err := process.acquire()
	if err != nil {
		releaseConn()
		return nil, err
	}
	return func() { releaseProcess(); releaseConn() }, nil
}

// acquireConnStream takes one of the connection's limit slots for a bounded
// stream, or refuses with RESOURCE_EXHAUSTED. A call with no connection
// (no peer, no HTTP connection context) is not limited.
func acquireConnStream(ctx context.Context, fullMethod string, limit int) (release func(), err error) {
	if !boundedStream(fullMethod) {
		return func() {}, nil
	}
	c, done, ok := connStreamsOf(ctx)
	if !ok {
		return func() {}, nil
	}
	if n := c.open.Add(1); n > int64(limit) {
		c.open.Add(-1)
		done()
		return nil, status.Errorf(codes.ResourceExhausted,
			"this connection already holds %d health Watch and reflection streams (GRPC_WATCH_STREAMS_PER_CONN); close one first", limit)
	}
	return func() { c.open.Add(-1); done() }, nil
}
