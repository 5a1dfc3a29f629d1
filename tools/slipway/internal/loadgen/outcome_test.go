package loadgen

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestGRPCOutcome(t *testing.T) {
	assert.Equal(t, Outcome{Code: CodeOK}, grpcOutcome(nil))
	assert.Equal(t, Outcome{Code: "NotFound", Message: "no such product"},
		grpcOutcome(status.Error(codes.NotFound, "no such product")))
	assert.Equal(t, "Unknown", grpcOutcome(errors.New("plain")).Code, "an error without a status is Unknown")
}

func TestCallError(t *testing.T) {
	err := CallError(status.Error(codes.Unavailable, "connection refused"))
	assert.EqualError(t, err, "Unavailable: connection refused (is the system running? `slipway dev` starts it)")
	err = CallError(status.Error(codes.PermissionDenied, "admins only"))
	assert.EqualError(t, err, "PermissionDenied: admins only")
}

func TestFirstErrors(t *testing.T) {
	a, b, c := errors.New("a"), errors.New("b"), errors.New("c")
	assert.Empty(t, firstErrors([]error{nil, nil}, 2))
	assert.Equal(t, []error{a, b}, firstErrors([]error{a, nil, b}, 2))
	kept := firstErrors([]error{a, b, nil, c, c}, 2)
	require.Len(t, kept, 3)
	assert.Equal(t, []error{a, b}, kept[:2])
	assert.EqualError(t, kept[2], "and 2 more like these")
}

// doHTTP turns every answer into an outcome: 2xx and 3xx are OK, an error
// status maps to its gRPC code, and a failed call says why.
func TestDoHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, "{}")
		case "/conflict":
			w.WriteHeader(http.StatusConflict)
			_, _ = io.WriteString(w, `{"code":"FAILED_PRECONDITION","detail":"out of stock"}`)
		case "/slow":
			time.Sleep(200 * time.Millisecond)
		}
	}))
	defer srv.Close()
	client := srv.Client()
	get := func(ctx context.Context, path string) Outcome {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
		require.NoError(t, err)
		return doHTTP(client, req)
	}

	assert.Equal(t, Outcome{Code: CodeOK, HTTPStatus: http.StatusCreated}, get(t.Context(), "/ok"))

	conflict := get(t.Context(), "/conflict")
	assert.Equal(t, "FailedPrecondition", conflict.Code)
	assert.Equal(t, http.StatusConflict, conflict.HTTPStatus)
	assert.Contains(t, conflict.Message, "HTTP 409")

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	assert.Equal(t, "DeadlineExceeded", get(ctx, "/slow").Code)

	canceled, cancelNow := context.WithCancel(t.Context())
	cancelNow()
	assert.Equal(t, "Canceled", get(canceled, "/ok").Code)

	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, closed.URL, nil)
	require.NoError(t, err)
	down := doHTTP(client, req)
	assert.Equal(t, "Unavailable", down.Code)
	assert.NotEmpty(t, down.Message)
	assert.Zero(t, down.HTTPStatus)
}
