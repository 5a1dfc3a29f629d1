package server

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// tracerName names the tracer of the spans the package starts itself.
const tracerName = "github.com/slipway-dev/slipway/platform/server"

// grpcTarget serves the dispatcher's unary methods over the gRPC protocol
// on the HTTP listener: it is the target the gRPC-Web and Connect
// transcoder hands those calls to (and gRPC clients on the HTTP port reach
// it unchanged). It reads the request as grpc-go's ServeHTTP would
// (metadata from the headers, grpc-timeout, one enveloped message) and
// answers as it would (headers, one message, Grpc-Status trailers), but
// calls the handler directly instead of going through a gRPC transport.
type grpcTarget struct {
	d      *dispatcher
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
	// codec decodes the request message: the gRPC server's, so a body that
	// does not decode is refused by the chain (INVALID_ARGUMENT) after
	// authentication, as on the gRPC port.
	codec    *requestCodec
	maxBytes int
}

// ServeHTTP implements http.Handler.
func (t *grpcTarget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel, err := t.context(r)
	if err != nil {
		writeGRPCResponse(w, r, nil, nil, nil, status.Convert(err))
		return
	}
	defer cancel()
	data, err := t.readMessage(r)
	if err != nil {
		writeGRPCResponse(w, r, nil, nil, nil, status.Convert(err))
		return
	}
	ctx, span := t.startSpan(ctx, r)
	defer span.End()
	resp, header, trailer, err := t.d.call(ctx, r.URL.Path, func(v any) error { return t.decode(data, v) })
	var body []byte
	if err == nil {
		body, err = t.marshal(resp)
	}
	st := status.Convert(err)
	endSpan(span, st)
	writeGRPCResponse(w, r, header, trailer, body, st)
}

// startSpan starts the call's server span, a child of the caller's trace
// context, named and described as the gRPC server's spans are
// ("pkg.Service/Method").
func (t *grpcTarget) startSpan(ctx context.Context, r *http.Request) (context.Context, trace.Span) {
	ctx = t.prop.Extract(ctx, propagation.HeaderCarrier(r.Header))
	name := strings.TrimPrefix(r.URL.Path, "/")
	svc, method, _ := strings.Cut(name, "/")
	return t.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
		attribute.String("rpc.system", "grpc"), attribute.String("rpc.service", svc), attribute.String("rpc.method", method),
		attribute.String("network.peer.address", r.RemoteAddr)))
}

// endSpan records the call's status on its span; the codes a server is to
// blame for mark it failed, as otelgrpc does.
func endSpan(span trace.Span, st *status.Status) {
	span.SetAttributes(attribute.Int("rpc.grpc.status_code", int(st.Code())))
	switch st.Code() {
	case codes.Unknown, codes.DeadlineExceeded, codes.Unimplemented, codes.Internal, codes.Unavailable, codes.DataLoss:
		span.SetStatus(otelcodes.Error, st.Message())
	}
}

// unaryWriter is the response writer of a unary call on its way through
// the transcoder: its Flush does nothing, so the transcoder's flush after
// the message does not cost a write of its own; the whole response goes out
// when the handler returns. Streaming calls keep the real writer.
type unaryWriter struct{ http.ResponseWriter }

// Flush implements http.Flusher, as the transcoder requires.
func (unaryWriter) Flush() {}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w unaryWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// context is the call's context: r's, with the request headers as incoming
// metadata (as grpc-go reads them), the HTTP client as the peer and
// grpc-timeout as the deadline.
func (t *grpcTarget) context(r *http.Request) (context.Context, context.CancelFunc, error) {
	md := make(metadata.MD, len(r.Header)+2)
	md["content-type"] = []string{r.Header.Get("Content-Type")}
	if r.Host != "" {
		md[":authority"] = []string{r.Host}
	}
	for k, vs := range r.Header {
		k = strings.ToLower(k)
		if reservedHeader(k) && k != "user-agent" {
			continue
		}
		for _, v := range vs {
			v, err := decodeMetadataHeader(k, v)
			if err != nil {
				return nil, nil, status.Errorf(codes.Internal, "malformed binary metadata in header %q: %v", k, err)
			}
			md[k] = append(md[k], v)
		}
	}
	if len(md[protocolHeader]) == 0 {
		// The listener tags every request; a call without the tag must
		// still never look like one from the native gRPC port.
		md[protocolHeader] = []string{"grpc-http"}
	}
	ctx := metadata.NewIncomingContext(httpPeer(r.Context(), r), md)
	if v := r.Header.Get("Grpc-Timeout"); v != "" {
		timeout, err := decodeTimeout(v)
		if err != nil {
			return nil, nil, status.Errorf(codes.Internal, "malformed grpc-timeout: %v", err)
		}
		ctx, cancel := context.WithTimeout(ctx, timeout)
		return ctx, cancel, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	return ctx, cancel, nil
}

// readMessage reads the one enveloped message of a unary request.
func (t *grpcTarget) readMessage(r *http.Request) ([]byte, error) {
	var prefix [grpcEnvelope]byte
	if _, err := io.ReadFull(r.Body, prefix[:]); err != nil {
		return nil, readError(r, err)
	}
	if prefix[0]&1 != 0 {
		return nil, status.Error(codes.Internal, "grpc: compressed flag set with identity or empty encoding")
	}
	n := binary.BigEndian.Uint32(prefix[1:])
	if int64(n) > int64(t.maxBytes) {
		return nil, status.Errorf(codes.ResourceExhausted, "grpc: received message larger than max (%d vs. %d)", n, t.maxBytes)
	}
	data := make([]byte, n)
	if _, err := io.ReadFull(r.Body, data); err != nil {
		return nil, readError(r, err)
	}
	var more [1]byte
	if k, err := r.Body.Read(more[:]); k > 0 || (err != nil && !errors.Is(err, io.EOF)) {
		return nil, status.Error(codes.Internal, "grpc: client streaming protocol violation: get <nil>, want <EOF>")
	}
	return data, nil
}

// readError is the status of a request body that could not be read.
func readError(r *http.Request, err error) error {
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return status.Errorf(codes.ResourceExhausted, "request body is larger than the %d bytes allowed (GRPC_MAX_MESSAGE_BYTES)", tooLarge.Limit-grpcEnvelope)
	case r.Context().Err() != nil:
		return status.FromContextError(r.Context().Err()).Err()
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return status.Error(codes.Internal, "grpc: the request ended before its message")
	}
	return status.Errorf(codes.Internal, "read request: %v", err)
}

// decode fills v, the request message the handler allocated, from data.
func (t *grpcTarget) decode(data []byte, v any) error {
	if t.codec == nil {
		m, ok := v.(proto.Message)
		if !ok {
			return status.Errorf(codes.Internal, "request %T is not a protobuf message", v)
		}
		return proto.Unmarshal(data, m)
	}
	return t.codec.Unmarshal(mem.BufferSlice{mem.SliceBuffer(data)}, v)
}

// marshal encodes resp as one enveloped message, refusing one larger than
// the server may send.
func (t *grpcTarget) marshal(resp any) ([]byte, error) {
	m, ok := resp.(proto.Message)
	if !ok {
		return nil, status.Errorf(codes.Internal, "response %T is not a protobuf message", resp)
	}
	size := proto.Size(m)
	if size > t.maxBytes {
		return nil, status.Errorf(codes.ResourceExhausted, "grpc: trying to send message larger than max (%d vs. %d)", size, t.maxBytes)
	}
	body := make([]byte, grpcEnvelope, grpcEnvelope+size)
	body, err := proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(body, m)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "grpc: error while marshaling: %v", err)
	}
	binary.BigEndian.PutUint32(body[1:], uint32(len(body)-grpcEnvelope)) //nolint:gosec // at most maxBytes, an int
	return body, nil
}

// writeGRPCResponse writes a unary gRPC response as grpc-go's ServeHTTP
// does: headers (with the header metadata), the message if any, then
// Grpc-Status, Grpc-Message, Grpc-Status-Details-Bin and the trailer
// metadata as trailers.
func writeGRPCResponse(w http.ResponseWriter, r *http.Request, header, trailer metadata.MD, body []byte, st *status.Status) {
	h := w.Header()
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		ct = "application/grpc"
	}
	h.Set("Content-Type", ct)
	h.Add("Trailer", "Grpc-Status")
	h.Add("Trailer", "Grpc-Message")
	h.Add("Trailer", "Grpc-Status-Details-Bin")
	for k, vs := range header {
		if reservedHeader(k) {
			continue
		}
		for _, v := range vs {
			h.Add(k, encodeMetadataHeader(k, v))
		}
	}
	w.WriteHeader(http.StatusOK)
	if body != nil {
		_, _ = w.Write(body) //nolint:gosec // an enveloped protobuf message served as application/grpc, never HTML
	}
	h.Set("Grpc-Status", strconv.Itoa(int(st.Code())))
	if m := st.Message(); m != "" {
		h.Set("Grpc-Message", encodeGrpcMessage(m))
	}
	if p := st.Proto(); p != nil && len(p.GetDetails()) > 0 {
		if details, err := proto.Marshal(p); err == nil {
			h.Set("Grpc-Status-Details-Bin", base64.RawStdEncoding.EncodeToString(details))
		}
	}
	for k, vs := range trailer {
		if reservedHeader(k) || k == "grpc-status-details-bin" {
			continue
		}
		for _, v := range vs {
			h.Add(http.TrailerPrefix+k, encodeMetadataHeader(k, v))
		}
	}
}

// reservedHeader reports whether k is a header the gRPC protocol itself
// uses, which is never metadata (grpc-go's list; it keeps content-type and
// user-agent, which the target sets itself).
func reservedHeader(k string) bool {
	if k != "" && k[0] == ':' {
		return true
	}
	switch k {
	case "content-type", "user-agent", "grpc-message-type", "grpc-encoding",
		"grpc-message", "grpc-status", "grpc-timeout", "te":
		return true
	}
	return false
}

// decodeMetadataHeader decodes a binary ("-bin") metadata value from its
// base64 header form, padded or not.
func decodeMetadataHeader(k, v string) (string, error) {
	if !strings.HasSuffix(k, "-bin") {
		return v, nil
	}
	enc := base64.RawStdEncoding
	if len(v)%4 == 0 {
		enc = base64.StdEncoding
	}
	b, err := enc.DecodeString(v)
	return string(b), err
}

// encodeMetadataHeader encodes a binary ("-bin") metadata value as
// unpadded base64, as gRPC sends it.
func encodeMetadataHeader(k, v string) string {
	if strings.HasSuffix(k, "-bin") {
		return base64.RawStdEncoding.EncodeToString([]byte(v))
	}
	return v
}

// encodeGrpcMessage percent-encodes a status message for Grpc-Message:
// every byte outside printable ASCII, and '%'.
func encodeGrpcMessage(msg string) string {
	clean := true
	for i := range len(msg) {
		if c := msg[i]; c < ' ' || c > '~' || c == '%' {
			clean = false
			break
		}
	}
	if clean {
		return msg
	}
	var sb strings.Builder
	for len(msg) > 0 {
		r, size := utf8.DecodeRuneInString(msg)
		for _, b := range []byte(string(r)) {
			if size > 1 || b < ' ' || b > '~' || b == '%' {
				fmt.Fprintf(&sb, "%%%02X", b)
				continue
			}
			sb.WriteByte(b)
		}
		msg = msg[size:]
	}
	return sb.String()
}

// decodeTimeout reads a grpc-timeout value: up to 8 digits and a unit.
func decodeTimeout(s string) (time.Duration, error) {
	if len(s) < 2 || len(s) > 9 {
		return 0, fmt.Errorf("timeout %q is not 1 to 8 digits and a unit", s)
	}
	var unit time.Duration
	switch s[len(s)-1] {
	case 'H':
		unit = time.Hour
	case 'M':
		unit = time.Minute
	case 'S':
		unit = time.Second
	case 'm':
		unit = time.Millisecond
	case 'u':
		unit = time.Microsecond
	case 'n':
		unit = time.Nanosecond
	default:
		return 0, fmt.Errorf("timeout unit of %q is not recognized", s)
	}
	n, err := strconv.ParseUint(s[:len(s)-1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("timeout %q: %w", s, err)
	}
	if n > uint64(math.MaxInt64/unit) {
		return time.Duration(math.MaxInt64), nil
	}
	return unit * time.Duration(n), nil
}
