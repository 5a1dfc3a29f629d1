package e2e

import (
	"compress/gzip"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// span is what the tests need of an exported span.
type span struct {
	Service, Name, TraceID string
}

// otlpReceiver accepts OTLP/HTTP protobuf trace exports, as a collector
// would, and keeps the spans for assertions.
type otlpReceiver struct {
	srv   *httptest.Server
	mu    sync.Mutex
	spans []span
}

func startOTLPReceiver(t *testing.T) *otlpReceiver {
	t.Helper()
	r := &otlpReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(r.export))
	t.Cleanup(r.srv.Close)
	return r
}

// URL is the OTEL_EXPORTER_OTLP_ENDPOINT of the services.
func (r *otlpReceiver) URL() string { return r.srv.URL }

func (r *otlpReceiver) export(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path != "/v1/traces" {
		http.NotFound(w, req)
		return
	}
	export, err := readExport(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	for _, rs := range export.GetResourceSpans() {
		service := ""
		for _, a := range rs.GetResource().GetAttributes() {
			if a.GetKey() == "service.name" {
				service = a.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				r.spans = append(r.spans, span{Service: service, Name: s.GetName(), TraceID: hex.EncodeToString(s.GetTraceId())})
			}
		}
	}
	r.mu.Unlock()
	answerExport(w)
}

// readExport decodes the OTLP/HTTP protobuf trace export in req's body,
// gzipped or not.
func readExport(req *http.Request) (*collectortrace.ExportTraceServiceRequest, error) {
	var body io.Reader = req.Body
	if req.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(req.Body)
		if err != nil {
			return nil, err
		}
		defer gz.Close()
		body = gz
	}
	data, err := io.ReadAll(body)
	if err != nil {
		return nil, err
	}
	export := &collectortrace.ExportTraceServiceRequest{}
	if err := proto.Unmarshal(data, export); err != nil {
		return nil, err
	}
	return export, nil
}

// answerExport accepts a trace export whole, as an OTLP/HTTP collector does.
func answerExport(w http.ResponseWriter) {
	out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// servicesIn returns the services that exported spans of traceID.
func (r *otlpReceiver) servicesIn(traceID string) map[string]bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	got := map[string]bool{}
	for _, s := range r.spans {
		if s.TraceID == traceID {
			got[s.Service] = true
		}
	}
	return got
}
