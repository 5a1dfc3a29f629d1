package loadgen

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	// Each service's generated API registers its descriptors, which
	// methods reads, when linked.
	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
	_ "github.com/slipway-dev/slipway/api/gen/go/slipway/notification/v1"
	_ "github.com/slipway-dev/slipway/api/gen/go/slipway/order/v1"
	_ "github.com/slipway-dev/slipway/api/gen/go/slipway/payment/v1"
	_ "github.com/slipway-dev/slipway/api/gen/go/slipway/user/v1"

	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// ErrNotLoopback is why a target is refused: slipway load is for a
// developer's own machine, never someone else's server.
var ErrNotLoopback = errors.New("slipway load only sends traffic to loopback addresses (127.0.0.0/8 or [::1])")

// LoopbackAddr checks that addr (host:port, or a comma-separated list of
// them: every instance of one service) is on loopback and returns it ready
// to dial.
func LoopbackAddr(what, addr string) (string, error) {
	if !strings.Contains(addr, ",") {
		return loopbackAddr(what, addr)
	}
	var out []string
	for a := range strings.SplitSeq(addr, ",") {
		a, err := loopbackAddr(what, strings.TrimSpace(a))
		if err != nil {
			return "", err
		}
		if slices.Contains(out, a) {
			return "", fmt.Errorf("%s %q: %s is listed twice", what, addr, a)
		}
		out = append(out, a)
	}
	return strings.Join(out, ","), nil
}

func loopbackAddr(what, addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("%s %q: %w", what, addr, err)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return "", fmt.Errorf("%s %q: port must be a number from 1 to 65535", what, addr)
	}
	if host, err = LoopbackHost(host); err != nil {
		return "", fmt.Errorf("%s %q: %w", what, addr, err)
	}
	return net.JoinHostPort(host, port), nil
}

// LoopbackHost checks that host is a loopback address. An empty or
// wildcard host means this machine (127.0.0.1), and "localhost" is taken as
// 127.0.0.1 without asking a resolver that might answer otherwise. Other
// names are refused.
func LoopbackHost(host string) (string, error) {
	switch strings.ToLower(host) {
	case "", "0.0.0.0", "::", "localhost":
		return "127.0.0.1", nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return "", fmt.Errorf("refusing host %q, which is not an IP address or localhost: %w", host, ErrNotLoopback)
	}
	if !ip.Unmap().IsLoopback() {
		return "", fmt.Errorf("refusing %s: %w", ip, ErrNotLoopback)
	}
	return ip.Unmap().String(), nil
}

// LoopbackURL checks that raw is an http URL of a loopback host and
// returns it with the host ready to dial.
func LoopbackURL(raw string, https bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("--url %q: %w", raw, err)
	}
	switch {
	case https && u.Scheme != "https":
		return nil, fmt.Errorf("--url %q: want an https:// URL (with --tls or --cacert the services serve TLS)", raw)
	case !https && u.Scheme != "http":
		return nil, fmt.Errorf("--url %q: want an http:// URL (the services serve plain HTTP on loopback; --tls for https)", raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("--url %q: put credentials in --header, not in the URL", raw)
	}
	host, err := LoopbackHost(u.Hostname())
	if err != nil {
		return nil, fmt.Errorf("--url %q: %w", raw, err)
	}
	if port := u.Port(); port != "" {
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return nil, fmt.Errorf("--url %q: port must be a number from 1 to 65535", raw)
		}
		host = net.JoinHostPort(host, port)
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	u.Host = host
	return u, nil
}

// dialer connects only to loopback, whatever the address resolved to:
// the flags are checked first, and this is the backstop.
var dialer = &net.Dialer{
	Timeout: 5 * time.Second,
	Control: func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("dial %s: %w", address, err)
		}
		if !ap.Addr().Unmap().IsLoopback() {
			return fmt.Errorf("dial %s: %w", address, ErrNotLoopback)
		}
		return nil
	},
}

// DialGRPC opens a client connection to a loopback gRPC server, without
// any proxy from the environment; over TLS (mTLS) when tlsConf is set.
// addr may list several instances of one service (host:port,host:port):
// the connection then balances round robin over those that are up and
// retries retriedMethods on UNAVAILABLE (balance.go).
func DialGRPC(addr string, tlsConf *tls.Config) (*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	if tlsConf != nil {
		creds = credentials.NewTLS(tlsConf)
	}
	target := "passthrough:///" + addr
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithNoProxy(),
		grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) {
			return dialer.DialContext(ctx, "tcp", a)
		}),
	}
	if strings.Contains(addr, ",") {
		var balanced []grpc.DialOption
		target, balanced = instancesTarget(addr)
		opts = append(opts, balanced...)
	}
	conn, err := grpc.NewClient(target, opts...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	return conn, nil
}

// HTTPClient is an HTTP client for loopback only: no proxy from the
// environment, no redirects followed (a redirect is an answer, not a hop
// elsewhere), and room for maxConns connections.
func HTTPClient(maxConns int, tlsConf *tls.Config) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			TLSClientConfig:     tlsConf,
			ForceAttemptHTTP2:   tlsConf != nil,
			Proxy:               nil,
			DialContext:         dialer.DialContext,
			MaxIdleConns:        maxConns,
			MaxIdleConnsPerHost: maxConns,
			MaxConnsPerHost:     maxConns,
			IdleConnTimeout:     30 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// grpcOutcome turns a gRPC call's error into an outcome.
func grpcOutcome(err error) Outcome {
	if err == nil {
		return Outcome{Code: CodeOK}
	}
	st := status.Convert(err)
	return Outcome{Code: st.Code().String(), Message: st.Message()}
}

// rpcMethod is one unary RPC of the API: its full name and message types.
type rpcMethod struct {
	FullName string // "slipway.inventory.v1.InventoryService/ListProducts"
	Service  string // "inventory": which --<svc>-addr is its default target
	Request  protoreflect.MessageType
	Response protoreflect.MessageType
}

// apiPackages are the proto packages of the registered services and the
// service each belongs to. A service's methods are found only when its
// generated package is linked (the imports above).
var apiPackages = func() map[protoreflect.FullName]string {
	m := make(map[protoreflect.FullName]string, len(workspace.Known))
	for _, s := range workspace.Known {
		m[protoreflect.FullName(workspace.ProtoPackage(s.Name))] = s.Name
	}
	return m
}()

// methods maps the full name of every unary method of the API to its
// message types, from the descriptors the generated code registered.
func methods() (map[string]rpcMethod, error) {
	methods := map[string]rpcMethod{}
	for pkg, svc := range apiPackages {
		var err error
		protoregistry.GlobalFiles.RangeFilesByPackage(pkg, func(fd protoreflect.FileDescriptor) bool {
			for i := range fd.Services().Len() {
				sd := fd.Services().Get(i)
				for j := range sd.Methods().Len() {
					md := sd.Methods().Get(j)
					if md.IsStreamingClient() || md.IsStreamingServer() {
						continue
					}
					req, e1 := protoregistry.GlobalTypes.FindMessageByName(md.Input().FullName())
					resp, e2 := protoregistry.GlobalTypes.FindMessageByName(md.Output().FullName())
					if err = errors.Join(e1, e2); err != nil {
						return false
					}
					name := string(sd.FullName()) + "/" + string(md.Name())
					methods[name] = rpcMethod{FullName: name, Service: svc, Request: req, Response: resp}
				}
			}
			return true
		})
		if err != nil {
			return nil, fmt.Errorf("API descriptors of %s: %w", pkg, err)
		}
	}
	return methods, nil
}

// findMethod looks a method up by its full name, written as gRPC does
// ("/pkg.Svc/Method"), without the slash, or with a dot before the method
// (as grpcurl accepts).
func findMethod(methods map[string]rpcMethod, name string) (rpcMethod, error) {
	key := strings.TrimPrefix(name, "/")
	if !strings.Contains(key, "/") {
		if i := strings.LastIndex(key, "."); i > 0 {
			key = key[:i] + "/" + key[i+1:]
		}
	}
	if m, ok := methods[key]; ok {
		return m, nil
	}
	var near []string
	method := key
	if i := strings.LastIndex(key, "/"); i >= 0 {
		method = key[i+1:]
	}
	for full := range methods {
		if method != "" && strings.HasSuffix(full, "/"+method) {
			near = append(near, full)
		}
	}
	slices.Sort(near)
	if len(near) > 0 {
		return rpcMethod{}, fmt.Errorf("unknown method %q; did you mean %s?", name, strings.Join(near, " or "))
	}
	return rpcMethod{}, fmt.Errorf("unknown method %q: want the full name of a unary method of the API, such as %s",
		name, strings.TrimPrefix(inventoryv1.InventoryService_ListProducts_FullMethodName, "/"))
}

// rpcTarget calls one unary method with the same request every time.
type rpcTarget struct {
	conn     *grpc.ClientConn
	method   rpcMethod
	request  proto.Message
	metadata metadata.MD
}

func newRPCTarget(conn *grpc.ClientConn, m rpcMethod, data string, headers http.Header) (*rpcTarget, error) {
	req := m.Request.New().Interface()
	if err := protojson.Unmarshal([]byte(data), req); err != nil {
		return nil, fmt.Errorf("--data is not a %s in JSON: %w", m.Request.Descriptor().FullName(), err)
	}
	md := metadata.MD{}
	for k, vs := range headers {
		md.Append(strings.ToLower(k), vs...)
	}
	return &rpcTarget{conn: conn, method: m, request: req, metadata: md}, nil
}

// Do implements Target.
func (t *rpcTarget) Do(ctx context.Context, _ int) Outcome {
	if len(t.metadata) > 0 {
		ctx = metadata.NewOutgoingContext(ctx, t.metadata)
	}
	resp := t.method.Response.New().Interface()
	return grpcOutcome(t.conn.Invoke(ctx, "/"+t.method.FullName, t.request, resp))
}

// httpTarget sends the same HTTP request every time.
type httpTarget struct {
	client  *http.Client
	method  string
	url     string
	body    []byte
	headers http.Header
}

// Do implements Target.
func (t *httpTarget) Do(ctx context.Context, _ int) Outcome {
	var body io.Reader
	if t.body != nil {
		body = bytes.NewReader(t.body)
	}
	req, err := http.NewRequestWithContext(ctx, t.method, t.url, body)
	if err != nil {
		return Outcome{Code: codes.Internal.String(), Message: err.Error()}
	}
	req.Header = t.headers.Clone()
	return doHTTP(t.client, req)
}

// maxErrorBody bounds how much of an error answer is read for its code.
const maxErrorBody = 64 << 10

// doHTTP sends req and reads the whole answer (its time counts: a
// client needs the body), mapping a failure to a gRPC code name.
func doHTTP(client *http.Client, req *http.Request) Outcome {
	resp, err := client.Do(req)
	if err != nil {
		return httpErrorOutcome(req.Context(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 400 {
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return httpErrorOutcome(req.Context(), err)
		}
		return Outcome{Code: CodeOK, HTTPStatus: resp.StatusCode}
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_, _ = io.Copy(io.Discard, resp.Body)
	code, msg := httpErrorCode(resp.StatusCode, b)
	return Outcome{Code: code.String(), HTTPStatus: resp.StatusCode, Message: msg}
}

func httpErrorOutcome(ctx context.Context, err error) Outcome {
	code := codes.Unavailable
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(ctx.Err(), context.Canceled):
		code = codes.Canceled
	}
	return Outcome{Code: code.String(), Message: err.Error()}
}

// httpErrorCode names the gRPC code of a failed REST call: the `code`
// of an RFC 9457 problem document, as Slipway's services write it, or else
// the code the HTTP status stands for in grpc-gateway's mapping.
func httpErrorCode(httpStatus int, body []byte) (codes.Code, string) {
	var problem struct {
		Code   json.RawMessage `json:"code"`
		Detail string          `json:"detail"`
		Title  string          `json:"title"`
	}
	if json.Unmarshal(body, &problem) == nil && len(problem.Code) > 0 {
		var c codes.Code
		if c.UnmarshalJSON(problem.Code) == nil && c != codes.OK {
			msg := cmp.Or(problem.Detail, problem.Title, http.StatusText(httpStatus))
			return c, fmt.Sprintf("HTTP %d: %s", httpStatus, msg)
		}
	}
	msg := strings.TrimSpace(string(body))
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	if msg == "" {
		msg = http.StatusText(httpStatus)
	}
	return codeOfHTTPStatus(httpStatus), fmt.Sprintf("HTTP %d: %s", httpStatus, msg)
}

// codeOfHTTPStatus inverts grpc-gateway's HTTPStatusFromCode, which is
// how the services' REST errors were made.
func codeOfHTTPStatus(s int) codes.Code {
	switch s {
	case http.StatusBadRequest:
		return codes.InvalidArgument
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusForbidden:
		return codes.PermissionDenied
	case http.StatusNotFound:
		return codes.NotFound
	case http.StatusConflict:
		return codes.AlreadyExists
	case http.StatusPreconditionFailed:
		return codes.FailedPrecondition
	case http.StatusTooManyRequests:
		return codes.ResourceExhausted
	case 499:
		return codes.Canceled
	case http.StatusNotImplemented:
		return codes.Unimplemented
	case http.StatusServiceUnavailable, http.StatusBadGateway:
		return codes.Unavailable
	case http.StatusGatewayTimeout:
		return codes.DeadlineExceeded
	case http.StatusInternalServerError:
		return codes.Internal
	}
	if s >= 500 {
		return codes.Internal
	}
	return codes.Unknown
}
