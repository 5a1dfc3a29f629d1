package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
)

// restLogEnv names the file the e2e appends its REST calls to, one JSON
// object a line, when it is set: e2e/prism replays them through Prism's
// validating proxy against the OpenAPI documents (make openapi-replay).
const restLogEnv = "SLIPWAY_E2E_REST_LOG"

// restExchange is one recorded REST call.
type restExchange struct {
	Method          string            `json:"method"`
	Target          string            `json:"target"` // path and query, as sent
	Headers         map[string]string `json:"headers,omitempty"`
	Body            string            `json:"body,omitempty"`
	Status          int               `json:"status"`
	ResponseHeaders map[string]string `json:"responseHeaders,omitempty"`
	ResponseBody    string            `json:"responseBody,omitempty"`
}

// recordedHeaders are the headers a document describes; a token is
// replaced, since only its presence is the document's business.
var recordedHeaders = []string{"Authorization", "Content-Type", "WWW-Authenticate", "Retry-After"}

var restLog struct {
	sync.Mutex
	file *os.File
	err  error
}

// recording returns c, recording its calls when restLogEnv is set.
func recording(c *http.Client) *http.Client {
	path := os.Getenv(restLogEnv)
	if path == "" {
		return c
	}
	rec := *c
	next := c.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	rec.Transport = recorder{next: next, path: path}
	return &rec
}

type recorder struct {
	next http.RoundTripper
	path string
}

// RoundTrip makes the call and appends it to the log; a log that cannot be
// written fails the call, so a replay never checks a partial recording.
func (r recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	res, err := r.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	respBody, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(respBody))
	ex := restExchange{Method: req.Method, Target: req.URL.RequestURI(), Body: string(body), Status: res.StatusCode,
		Headers: pick(req.Header), ResponseHeaders: pick(res.Header), ResponseBody: string(respBody)}
	if _, ok := ex.Headers["Authorization"]; ok {
		ex.Headers["Authorization"] = "Bearer recorded"
	}
	if err := appendExchange(r.path, ex); err != nil {
		return nil, fmt.Errorf("record REST call in %s: %w", r.path, err)
	}
	return res, nil
}

func pick(h http.Header) map[string]string {
	out := map[string]string{}
	for _, k := range recordedHeaders {
		if v := h.Get(k); v != "" {
			out[k] = v
		}
	}
	return out
}

func appendExchange(path string, ex restExchange) error {
	line, err := json.Marshal(ex)
	if err != nil {
		return err
	}
	restLog.Lock()
	defer restLog.Unlock()
	if restLog.file == nil && restLog.err == nil {
		restLog.file, restLog.err = os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	}
	if restLog.err != nil {
		return restLog.err
	}
	_, err = restLog.file.Write(append(line, '\n'))
	return err
}
