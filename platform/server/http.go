package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"connectrpc.com/connect"
	"connectrpc.com/vanguard"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/slipway-dev/slipway/platform/faults"
)

// Problem is the RFC 9457 body of every REST error.
type Problem struct {
	Type      string           `json:"type"`
	Title     string           `json:"title"`
	Status    int              `json:"status"`
	Detail    string           `json:"detail"`
	Code      string           `json:"code"`
	RequestID string           `json:"request_id,omitempty"`
	Errors    []FieldViolation `json:"errors,omitempty"`
}

// FieldViolation names one invalid field of a request.
type FieldViolation struct {
	Field       string `json:"field"`
	Description string `json:"description"`
}

// newGatewayMux is the grpc-gateway mux: it forwards the request id and the
// protocol tag, returns the request id as X-Request-Id, and writes errors as
// application/problem+json.
func newGatewayMux() *runtime.ServeMux {
	return runtime.NewServeMux(
		runtime.WithIncomingHeaderMatcher(func(key string) (string, bool) {
			switch strings.ToLower(key) {
			case RequestIDHeader, protocolHeader, clientAddrHeader:
				return strings.ToLower(key), true
			}
			return runtime.DefaultHeaderMatcher(key)
		}),
		runtime.WithOutgoingHeaderMatcher(func(key string) (string, bool) {
			if key == RequestIDHeader {
				return textproto.CanonicalMIMEHeaderKey(key), true
			}
			return runtime.MetadataHeaderPrefix + key, true
		}),
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.HTTPBodyMarshaler{
			Marshaler: &runtime.JSONPb{
				MarshalOptions:   protojson.MarshalOptions{EmitUnpopulated: true},
				UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: true},
			},
		}),
		runtime.WithErrorHandler(problemErrorHandler),
		runtime.WithRoutingErrorHandler(routingProblem),
		runtime.WithMiddlewares(checkParams),
	)
}

// checkParams refuses, before the RPC, path and query parameters that
// cannot become the request message: invalid UTF-8 (proto strings must be
// valid, and the in-process call would fail to marshal them: a 500), and
// empty or NUL-bearing path parameters (no id is empty; PostgreSQL cannot
// store NUL). The problem names the parameter.
func checkParams(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, pathParams map[string]string) {
		var violations []FieldViolation
		for name, v := range pathParams {
			switch {
			case !utf8.ValidString(v):
				violations = append(violations, FieldViolation{Field: name, Description: "must be valid UTF-8"})
			case v == "":
				violations = append(violations, FieldViolation{Field: name, Description: "must not be empty"})
			case strings.ContainsRune(v, 0):
				violations = append(violations, FieldViolation{Field: name, Description: "must not contain NUL"})
			}
		}
		query, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			violations = append(violations, FieldViolation{Field: "query", Description: "malformed query string"})
		}
		for name, vs := range query {
			if !utf8.ValidString(name) {
				violations = append(violations, FieldViolation{Field: "query", Description: "parameter names must be valid UTF-8"})
				continue
			}
			for _, v := range vs {
				if !utf8.ValidString(v) {
					violations = append(violations, FieldViolation{Field: name, Description: "must be valid UTF-8"})
					break
				}
			}
		}
		if len(violations) == 0 {
			next(w, r, pathParams)
			return
		}
		slices.SortFunc(violations, func(a, b FieldViolation) int { return strings.Compare(a.Field, b.Field) })
		writeProblem(w, r, Problem{
			Type: "about:blank", Title: http.StatusText(http.StatusBadRequest), Status: http.StatusBadRequest,
			Detail: "invalid " + violations[0].Field + ": " + violations[0].Description,
			Code:   faults.CodeName(codes.InvalidArgument), Errors: violations,
		})
	}
}

// routingProblem answers a REST request that matches no route as a
// problem: 404 for an unknown path, 405 (with the method named) for a known
// path and another method, 400 for a malformed path. A path with an empty
// segment (POST /v1/orders/:cancel) is a 400 that says so, whatever route
// it resembles. grpc-gateway's default would answer 405 as 501.
func routingProblem(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
	p := Problem{Type: "about:blank", Status: httpStatus}
	switch {
	case hasEmptySegment(r.URL.EscapedPath()):
		p.Status, p.Code = http.StatusBadRequest, faults.CodeName(codes.InvalidArgument)
		p.Detail = "invalid path: empty path segment"
		p.Errors = []FieldViolation{{Field: "path", Description: "has an empty segment"}}
	case httpStatus == http.StatusMethodNotAllowed:
		p.Code = faults.CodeName(codes.Unimplemented)
		p.Detail = "method " + strconv.Quote(r.Method) + " is not allowed on this path"
	case httpStatus == http.StatusBadRequest:
		p.Code = faults.CodeName(codes.InvalidArgument)
		p.Detail = "malformed path"
	default:
		p.Status, p.Code = http.StatusNotFound, faults.CodeName(codes.NotFound)
		p.Detail = "no such resource"
	}
	p.Title = http.StatusText(p.Status)
	writeProblem(w, r, p)
}

// hasEmptySegment reports whether path has an empty segment: "//", a
// trailing "/", or a custom verb with nothing before it ("/:cancel").
func hasEmptySegment(path string) bool {
	segments := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for _, seg := range segments {
		if seg == "" || strings.HasPrefix(seg, ":") {
			return true
		}
	}
	return false
}

func problemErrorHandler(ctx context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	st := status.Convert(err)
	httpStatus := runtime.HTTPStatusFromCode(st.Code())
	p := Problem{
		Type:   "about:blank",
		Title:  http.StatusText(httpStatus),
		Status: httpStatus,
		Detail: st.Message(),
		Code:   faults.CodeName(st.Code()),
	}
	if md, ok := runtime.ServerMetadataFromContext(ctx); ok {
		if ids := md.HeaderMD.Get(RequestIDHeader); len(ids) > 0 {
			p.RequestID = ids[0]
			w.Header().Set("X-Request-Id", ids[0])
		}
	}
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				p.Errors = append(p.Errors, FieldViolation{Field: v.GetField(), Description: v.GetDescription()})
			}
		case *errdetails.RetryInfo:
			w.Header().Set("Retry-After", retryAfterSeconds(d.GetRetryDelay().AsDuration()))
		}
	}
	if st.Code() == codes.Unauthenticated {
		w.Header().Set("WWW-Authenticate", `Bearer realm="slipway"`)
	}
	writeProblem(w, r, p)
}

// retryAfterSeconds is an HTTP Retry-After value: whole seconds, rounded up
// so a client never comes back early, and at least 1.
func retryAfterSeconds(d time.Duration) string {
	secs := int64((d + time.Second - 1) / time.Second)
	return strconv.FormatInt(max(secs, 1), 10)
}

func writeProblem(w http.ResponseWriter, _ *http.Request, p Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Del("Grpc-Metadata-Content-Type")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// classify says which protocol an HTTP request speaks. gRPC-Web and Connect
// address methods as /package.Service/Method; REST paths are the
// google.api.http routes under /v1/.
func classify(r *http.Request) string {
	ct := r.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "application/grpc-web"):
		return "grpc-web"
	case strings.HasPrefix(ct, "application/grpc"):
		return "grpc-http"
	case strings.HasPrefix(ct, "application/connect+"), r.Header.Get("Connect-Protocol-Version") != "":
		return "connect"
	}
	if strings.Count(r.URL.Path, "/") == 2 && strings.Contains(r.URL.Path[1:strings.LastIndex(r.URL.Path, "/")+1], ".") {
		return "connect" // Connect unary: POST /pkg.Service/Method with application/json or application/proto
	}
	return "rest"
}

// cors answers preflights and sets CORS headers for the configured origins
// only; an origin that is not listed gets no CORS headers, so browsers refuse.
func cors(allowed []string, next http.Handler) http.Handler {
	set := make(map[string]bool, len(allowed))
	for _, o := range allowed {
		set[strings.TrimRight(o, "/")] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" || !set[origin] {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
		h.Set("Access-Control-Expose-Headers", "Grpc-Status, Grpc-Message, Grpc-Status-Details-Bin, X-Request-Id, Connect-Protocol-Version")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Grpc-Web, X-User-Agent, Grpc-Timeout, Connect-Protocol-Version, Connect-Timeout-Ms, X-Request-Id, Traceparent, Tracestate")
			h.Set("Access-Control-Max-Age", "7200")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// transcoderOptions configure the gRPC-Web and Connect transcoder: its
// request codecs answer a malformed message with INVALID_ARGUMENT (vanguard
// alone answers UNKNOWN, a 500, with the parser's Go error as the message),
// an unknown method gets a Connect or problem 404 rather than plain text,
// and no message may be larger than maxBytes.
func transcoderOptions(maxBytes int) []vanguard.TranscoderOption {
	return []vanguard.TranscoderOption{
		vanguard.WithCodec(func(res vanguard.TypeResolver) vanguard.Codec { return requestJSONCodec{vanguard.NewJSONCodec(res)} }),
		vanguard.WithCodec(func(res vanguard.TypeResolver) vanguard.Codec { return requestProtoCodec{vanguard.NewProtoCodec(res)} }),
		vanguard.WithUnknownHandler(http.HandlerFunc(unknownMethod)),
		vanguard.WithDefaultServiceOptions(vanguard.WithMaxMessageBufferBytes(uint32(maxBytes))), //nolint:gosec // validated > 0, at most an int
	}
}

// malformedMessage is the client's error for a message that does not parse:
// it names the message type, never the parser's internals.
func malformedMessage(format string, msg proto.Message) error {
	return connect.NewError(connect.CodeInvalidArgument,
		fmt.Errorf("request body is not a valid %s encoding of %s", format, msg.ProtoReflect().Descriptor().FullName()))
}

// requestJSONCodec is vanguard's JSON codec whose parse errors are the
// client's fault.
type requestJSONCodec struct{ *vanguard.JSONCodec }

// Unmarshal implements vanguard.Codec.
func (c requestJSONCodec) Unmarshal(data []byte, msg proto.Message) error {
	if err := c.JSONCodec.Unmarshal(data, msg); err != nil {
		return malformedMessage("JSON", msg)
	}
	return nil
}

// requestProtoCodec is vanguard's binary codec whose parse errors are the
// client's fault.
type requestProtoCodec struct{ *vanguard.ProtoCodec }

// Unmarshal implements vanguard.Codec.
func (c requestProtoCodec) Unmarshal(data []byte, msg proto.Message) error {
	if err := c.ProtoCodec.Unmarshal(data, msg); err != nil {
		return malformedMessage("protobuf", msg)
	}
	return nil
}

// unknownMethod answers a gRPC-Web or Connect request for a method no
// service has: a Connect JSON error for a Connect client, a problem for
// anyone else. Both are 404: Connect's UNIMPLEMENTED would be a 501.
func unknownMethod(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Connect-Protocol-Version") != "" || strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"code":"not_found","message":"no such method"}` + "\n"))
		return
	}
	writeProblem(w, r, Problem{
		Type: "about:blank", Title: http.StatusText(http.StatusNotFound), Status: http.StatusNotFound,
		Detail: "no such method", Code: faults.CodeName(codes.NotFound),
	})
}
