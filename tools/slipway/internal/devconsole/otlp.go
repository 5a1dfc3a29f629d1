package devconsole

import (
	"compress/gzip"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// DefaultMaxExportBytes caps one OTLP request body, before and after gzip.
const DefaultMaxExportBytes = 16 << 20

// DefaultMaxConcurrentExports is how many OTLP requests the receiver reads
// and decodes at once.
const DefaultMaxConcurrentExports = 4

// Bounds of one span, so that its size in the store is bounded whatever the
// exporter sends: a longer text keeps its first MaxTextBytes (whole UTF-8
// characters) and ends in "…(truncated N bytes)"; attributes and events past
// their bound are dropped and counted.
const (
	MaxTextBytes       = 4 << 10 // a name, an attribute key or value, a status message
	MaxSpanAttributes  = 128
	MaxSpanEvents      = 128
	MaxEventAttributes = 32
)

// Media types of OTLP/HTTP.
const (
	mediaProtobuf = "application/x-protobuf"
	mediaJSON     = "application/json"
)

// Status codes of spans as the API names them.
const (
	statusUnset = "UNSET"
	statusOK    = "OK"
	statusError = "ERROR"
)

// otlpReceiver is the OTLP/HTTP trace endpoint (POST /v1/traces): it accepts
// binary protobuf and JSON, optionally gzip-compressed, and answers as the
// OTLP specification asks: an ExportTraceServiceResponse on success and a
// google.rpc.Status on failure, both in the encoding of the request.
//
// Each request may hold a body of maxBytes and its decoded form, so only a
// few are read at once (slots); as many again wait for a slot without having
// read anything (admitted counts both), and the rest are answered 429 with
// Retry-After, which OTLP exporters honour by retrying later.
type otlpReceiver struct {
	store    *TraceStore
	maxBytes int64
	slots    chan struct{} // one per request being read and decoded
	admitted chan struct{} // one per request being read or waiting to be
}

func newOTLPReceiver(store *TraceStore, maxBytes int64, concurrency int) *otlpReceiver {
	return &otlpReceiver{
		store:    store,
		maxBytes: maxBytes,
		slots:    make(chan struct{}, concurrency),
		admitted: make(chan struct{}, 2*concurrency),
	}
}

// retryAfterSeconds is the Retry-After of a 429.
const retryAfterSeconds = "1"

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	media, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case err != nil:
		media = ""
	case media == "application/protobuf":
		media = mediaProtobuf
	}
	if media != mediaProtobuf && media != mediaJSON {
		writeOTLPStatus(w, mediaJSON, http.StatusUnsupportedMediaType, codes.InvalidArgument,
			fmt.Sprintf("content type %q: want %s or %s", r.Header.Get("Content-Type"), mediaProtobuf, mediaJSON))
		return
	}
	select {
	case o.admitted <- struct{}{}:
		defer func() { <-o.admitted }()
	default:
		w.Header().Set("Retry-After", retryAfterSeconds)
		writeOTLPStatus(w, media, http.StatusTooManyRequests, codes.ResourceExhausted,
			fmt.Sprintf("the console is busy with %d exports and as many waiting: retry later", cap(o.slots)))
		return
	}
	select {
	case o.slots <- struct{}{}:
		defer func() { <-o.slots }()
	case <-r.Context().Done():
		return // the exporter gave up waiting
	}

	body, status, err := readExport(w, r, o.maxBytes)
	if err != nil {
		writeOTLPStatus(w, media, status, codes.InvalidArgument, err.Error())
		return
	}
	var req collectortrace.ExportTraceServiceRequest
	if media == mediaJSON {
		err = unmarshalOTLPJSON(body, &req)
	} else {
		err = proto.Unmarshal(body, &req)
	}
	if err != nil {
		writeOTLPStatus(w, media, http.StatusBadRequest, codes.InvalidArgument, "decode export request: "+err.Error())
		return
	}
	spans, invalid := spansOf(&req)
	rejected := invalid + o.store.Add(spans)

	resp := &collectortrace.ExportTraceServiceResponse{}
	if rejected > 0 {
		resp.PartialSuccess = &collectortrace.ExportTracePartialSuccess{
			RejectedSpans: int64(rejected),
			ErrorMessage:  "spans without valid ids, or of a trace larger than the console's span or byte bound, were dropped",
		}
	}
	writeOTLP(w, media, http.StatusOK, resp)
}

// readExport reads the request body, inflating gzip, refusing more than max
// bytes either way. The status is the HTTP status of a failure.
func readExport(w http.ResponseWriter, r *http.Request, maxBytes int64) ([]byte, int, error) {
	var body io.Reader = http.MaxBytesReader(w, r.Body, maxBytes)
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip":
		gz, err := gzip.NewReader(body)
		if err != nil {
			return nil, http.StatusBadRequest, fmt.Errorf("gzip body: %w", err)
		}
		defer gz.Close()
		body = io.LimitReader(gz, maxBytes+1)
	default:
		return nil, http.StatusUnsupportedMediaType, fmt.Errorf("content encoding %q: want gzip or none", enc)
	}
	data, err := io.ReadAll(body)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge), err == nil && int64(len(data)) > maxBytes:
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("export larger than %d bytes", maxBytes)
	case err != nil:
		return nil, http.StatusBadRequest, fmt.Errorf("read body: %w", err)
	}
	return data, 0, nil
}

// writeOTLP writes m in the encoding media names.
func writeOTLP(w http.ResponseWriter, media string, status int, m proto.Message) {
	var (
		out []byte
		err error
	)
	if media == mediaJSON {
		out, err = protojson.Marshal(m)
	} else {
		out, err = proto.Marshal(m)
	}
	if err != nil {
		http.Error(w, "encode response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", media)
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

func writeOTLPStatus(w http.ResponseWriter, media string, status int, code codes.Code, msg string) {
	writeOTLP(w, media, status, &statuspb.Status{Code: int32(code), Message: msg}) //nolint:gosec // gRPC codes are small
}

// unmarshalOTLPJSON decodes the OTLP JSON encoding, which is protobuf's JSON
// mapping except that trace and span ids are hex strings, not base64.
//
// protojson reads an id as base64, and hex digits are base64 digits: 32 hex
// digits decode to 24 bytes, 16 to 12, without loss (whole groups of four).
// Encoding those bytes as base64 again gives back the text the exporter
// sent, which must then be 16 or 8 bytes in hex. So the document is decoded
// once, with no intermediate tree.
func unmarshalOTLPJSON(data []byte, req *collectortrace.ExportTraceServiceRequest) error {
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(data, req); err != nil {
		return err
	}
	var err error
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				if sp.TraceId, err = hexID("traceId", sp.TraceId, 16); err != nil {
					return err
				}
				if sp.SpanId, err = hexID("spanId", sp.SpanId, 8); err != nil {
					return err
				}
				if sp.ParentSpanId, err = hexID("parentSpanId", sp.ParentSpanId, 8); err != nil {
					return err
				}
				for _, l := range sp.GetLinks() {
					if l.TraceId, err = hexID("links.traceId", l.TraceId, 16); err != nil {
						return err
					}
					if l.SpanId, err = hexID("links.spanId", l.SpanId, 8); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// hexID returns the id whose hex text protojson decoded as base64 into b
// (see unmarshalOTLPJSON); an empty id stays empty.
func hexID(field string, b []byte, size int) ([]byte, error) {
	if len(b) == 0 {
		return b, nil
	}
	text := base64.StdEncoding.EncodeToString(b)
	id, err := hex.DecodeString(text)
	if err != nil || len(id) != size {
		return nil, fmt.Errorf("%s: want %d bytes in hex (%d hex digits)", field, size, 2*size)
	}
	return id, nil
}

// spansOf converts an export request into the console's spans. Spans whose
// trace or span id has the wrong length cannot be joined to anything and
// are counted as invalid.
func spansOf(req *collectortrace.ExportTraceServiceRequest) (spans []Span, invalid int) {
	for _, rs := range req.GetResourceSpans() {
		service := "unknown_service"
		for _, a := range rs.GetResource().GetAttributes() {
			if a.GetKey() == "service.name" && a.GetValue().GetStringValue() != "" {
				service = a.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				if len(s.GetTraceId()) != 16 || len(s.GetSpanId()) != 8 {
					invalid++
					continue
				}
				spans = append(spans, convertSpan(service, s))
			}
		}
	}
	return spans, invalid
}

func convertSpan(service string, s *tracepb.Span) Span {
	attrs, droppedAttrs := attributes(s.GetAttributes(), MaxSpanAttributes)
	sp := Span{
		TraceID:           hex.EncodeToString(s.GetTraceId()),
		SpanID:            hex.EncodeToString(s.GetSpanId()),
		Service:           truncate(service),
		Name:              truncate(s.GetName()),
		Kind:              spanKind(s.GetKind()),
		StartUnixNano:     s.GetStartTimeUnixNano(),
		EndUnixNano:       s.GetEndTimeUnixNano(),
		Status:            SpanStatus{Code: statusUnset, Message: truncate(s.GetStatus().GetMessage())},
		Attributes:        attrs,
		DroppedAttributes: droppedAttrs + int(s.GetDroppedAttributesCount()),
		DroppedEvents:     int(s.GetDroppedEventsCount()),
	}
	if len(s.GetParentSpanId()) == 8 {
		sp.ParentSpanID = hex.EncodeToString(s.GetParentSpanId())
	}
	if sp.EndUnixNano > sp.StartUnixNano {
		sp.DurationMS = float64(sp.EndUnixNano-sp.StartUnixNano) / 1e6
	}
	switch s.GetStatus().GetCode() {
	case tracepb.Status_STATUS_CODE_OK:
		sp.Status.Code = statusOK
	case tracepb.Status_STATUS_CODE_ERROR:
		sp.Status.Code = statusError
	}
	events := s.GetEvents()
	if len(events) > MaxSpanEvents {
		sp.DroppedEvents += len(events) - MaxSpanEvents
		events = events[:MaxSpanEvents]
	}
	for _, e := range events {
		attrs, dropped := attributes(e.GetAttributes(), MaxEventAttributes)
		sp.Events = append(sp.Events, SpanEvent{
			Time:              time.Unix(0, int64(e.GetTimeUnixNano())).UTC().Format(time.RFC3339Nano), //nolint:gosec // Unix nanoseconds fit int64 until 2262
			Name:              truncate(e.GetName()),
			Attributes:        attrs,
			DroppedAttributes: dropped + int(e.GetDroppedAttributesCount()),
		})
	}
	return sp
}

// truncate returns s whole if it has at most MaxTextBytes bytes, else its
// first MaxTextBytes or fewer (whole UTF-8 characters) and a marker saying
// how many bytes were cut.
func truncate(s string) string {
	if len(s) <= MaxTextBytes {
		return s
	}
	cut := MaxTextBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…(truncated " + strconv.Itoa(len(s)-cut) + " bytes)" // a new string: s is not retained
}

func spanKind(k tracepb.Span_SpanKind) string {
	switch k {
	case tracepb.Span_SPAN_KIND_SERVER:
		return "SERVER"
	case tracepb.Span_SPAN_KIND_CLIENT:
		return "CLIENT"
	case tracepb.Span_SPAN_KIND_PRODUCER:
		return "PRODUCER"
	case tracepb.Span_SPAN_KIND_CONSUMER:
		return "CONSUMER"
	}
	return "INTERNAL" // the specification reads UNSPECIFIED as INTERNAL
}

// attributes renders the first max attributes of kvs as text, each key and
// value truncated, and counts the others as dropped.
func attributes(kvs []*commonpb.KeyValue, maxAttrs int) (attrs map[string]string, dropped int) {
	if len(kvs) > maxAttrs {
		dropped = len(kvs) - maxAttrs
		kvs = kvs[:maxAttrs]
	}
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		out[truncate(kv.GetKey())] = truncate(anyValueText(kv.GetValue()))
	}
	return out, dropped
}

// anyValueText renders an attribute value as text: scalars as themselves,
// arrays and maps as JSON.
func anyValueText(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_BoolValue:
		return strconv.FormatBool(x.BoolValue)
	case *commonpb.AnyValue_IntValue:
		return strconv.FormatInt(x.IntValue, 10)
	case *commonpb.AnyValue_DoubleValue:
		return strconv.FormatFloat(x.DoubleValue, 'g', -1, 64)
	case *commonpb.AnyValue_BytesValue:
		return base64.StdEncoding.EncodeToString(x.BytesValue)
	case *commonpb.AnyValue_ArrayValue, *commonpb.AnyValue_KvlistValue:
		b, _ := json.Marshal(anyValueJSON(v))
		return string(b)
	}
	return ""
}

func anyValueJSON(v *commonpb.AnyValue) any {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_ArrayValue:
		out := make([]any, 0, len(x.ArrayValue.GetValues()))
		for _, e := range x.ArrayValue.GetValues() {
			out = append(out, anyValueJSON(e))
		}
		return out
	case *commonpb.AnyValue_KvlistValue:
		out := make(map[string]any, len(x.KvlistValue.GetValues()))
		for _, kv := range x.KvlistValue.GetValues() {
			out[kv.GetKey()] = anyValueJSON(kv.GetValue())
		}
		return out
	case *commonpb.AnyValue_BoolValue:
		return x.BoolValue
	case *commonpb.AnyValue_IntValue:
		return x.IntValue
	case *commonpb.AnyValue_DoubleValue:
		return x.DoubleValue
	}
	return anyValueText(v)
}
