package devconsole

import (
	"bytes"
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
type otlpReceiver struct {
	store    *TraceStore
	maxBytes int64
}

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
			ErrorMessage:  "spans without valid ids, or of a trace larger than the console's span bound, were dropped",
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
func unmarshalOTLPJSON(data []byte, req *collectortrace.ExportTraceServiceRequest) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // keep 64-bit integers exact on the way through
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return err
	}
	if err := hexIDsToBase64(doc); err != nil {
		return err
	}
	canonical, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(canonical, req)
}

// idFields are the OTLP JSON fields that hold ids, in both spellings the
// protobuf JSON mapping accepts, with their sizes in bytes.
var idFields = []struct {
	name string
	size int
}{
	{"traceId", 16}, {"trace_id", 16},
	{"spanId", 8}, {"span_id", 8},
	{"parentSpanId", 8}, {"parent_span_id", 8},
}

// hexIDsToBase64 rewrites, in place, every id field of the spans and their
// links in an OTLP JSON document from hex to base64.
func hexIDsToBase64(doc any) error {
	for _, rs := range jsonList(doc, "resourceSpans", "resource_spans") {
		for _, ss := range jsonList(rs, "scopeSpans", "scope_spans") {
			for _, sp := range jsonList(ss, "spans") {
				if err := rewriteIDs(sp); err != nil {
					return err
				}
				for _, l := range jsonList(sp, "links") {
					if err := rewriteIDs(l); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

func rewriteIDs(v any) error {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	for _, f := range idFields {
		k, size := f.name, f.size
		s, ok := obj[k].(string)
		if !ok || s == "" {
			continue
		}
		b, err := hex.DecodeString(s)
		if err != nil || len(b) != size {
			return fmt.Errorf("%s %q: want %d bytes in hex", k, s, size)
		}
		obj[k] = base64.StdEncoding.EncodeToString(b)
	}
	return nil
}

// jsonList returns the array under the first of keys that v (an object) has.
func jsonList(v any, keys ...string) []any {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	for _, k := range keys {
		if list, ok := obj[k].([]any); ok {
			return list
		}
	}
	return nil
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
	sp := Span{
		TraceID:       hex.EncodeToString(s.GetTraceId()),
		SpanID:        hex.EncodeToString(s.GetSpanId()),
		Service:       service,
		Name:          s.GetName(),
		Kind:          spanKind(s.GetKind()),
		StartUnixNano: s.GetStartTimeUnixNano(),
		EndUnixNano:   s.GetEndTimeUnixNano(),
		Status:        SpanStatus{Code: statusUnset, Message: s.GetStatus().GetMessage()},
		Attributes:    attributes(s.GetAttributes()),
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
	for _, e := range s.GetEvents() {
		sp.Events = append(sp.Events, SpanEvent{
			Time:       time.Unix(0, int64(e.GetTimeUnixNano())).UTC().Format(time.RFC3339Nano), //nolint:gosec // Unix nanoseconds fit int64 until 2262
			Name:       e.GetName(),
			Attributes: attributes(e.GetAttributes()),
		})
	}
	return sp
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

func attributes(kvs []*commonpb.KeyValue) map[string]string {
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		out[kv.GetKey()] = anyValueText(kv.GetValue())
	}
	return out
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
