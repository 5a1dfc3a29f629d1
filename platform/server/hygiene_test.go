package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	notificationv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/notification/v1"
	"github.com/slipway-dev/slipway/platform/errkind"
	"github.com/slipway-dev/slipway/platform/server"
)

// internalAddr is what a driver or a gRPC client puts in its errors; no
// client may ever read it.
const internalAddr = "10.1.2.3:5432"

// outbox fails the way a service whose database or peer is down fails:
// page_token "db" is a store error, "peer" a peer's raw status, "panic-free"
// an unclassified Go error.
type outbox struct {
	notificationv1.UnimplementedNotificationServiceServer
}

func (outbox) ListMyNotifications(_ context.Context, req *notificationv1.ListMyNotificationsRequest) (*notificationv1.ListMyNotificationsResponse, error) {
	switch req.GetPageToken() {
	case "db":
		cause := fmt.Errorf("failed to connect to `user=order`: dial tcp %s: connect: connection refused", internalAddr)
		return nil, server.Status(fmt.Errorf("list notifications: %w", errkind.Unreachable("database", 2*time.Second, cause)))
	case "peer":
		return nil, status.Errorf(codes.Unavailable, "connection error: desc = transport: Error while dialing: dial tcp %s: connect: connection refused", internalAddr)
	case "internal":
		return nil, status.Errorf(codes.Internal, "pq: relation \"outbox\" does not exist at %s", internalAddr)
	}
	return &notificationv1.ListMyNotificationsResponse{}, nil
}

func startWithOutbox(t *testing.T) *harness {
	t.Helper()
	return start(t, nil, server.WithService(server.Service{
		Desc: &notificationv1.NotificationService_ServiceDesc, Impl: outbox{},
		Gateway: notificationv1.RegisterNotificationServiceHandler,
	}))
}

func TestAnUnreachableDatabaseIsUnavailableWithRetryInfo(t *testing.T) {
	h := startWithOutbox(t)

	_, err := notificationv1.NewNotificationServiceClient(h.grpcConn).ListMyNotifications(context.Background(),
		&notificationv1.ListMyNotificationsRequest{PageToken: "db"})
	st := status.Convert(err)
	assert.Equal(t, codes.Unavailable, st.Code())
	assert.Equal(t, "database unavailable; retry later", st.Message())
	var retry *errdetails.RetryInfo
	for _, d := range st.Details() {
		if r, ok := d.(*errdetails.RetryInfo); ok {
			retry = r
		}
	}
	require.NotNil(t, retry, "UNAVAILABLE tells the client when to come back")
	assert.Equal(t, 2*time.Second, retry.GetRetryDelay().AsDuration())

	resp, body := restGet(t, h, "/v1/notifications?pageToken=db")
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "2", resp.Header.Get("Retry-After"))
	assert.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
	p := problem(t, body)
	assert.Equal(t, "UNAVAILABLE", p.Code)
	assert.NotContains(t, body, internalAddr)

	// The cause goes to the log, with the request id.
	require.Eventually(t, func() bool { return strings.Contains(h.logs.String(), internalAddr) }, 2*time.Second, 10*time.Millisecond)
	for _, line := range strings.Split(h.logs.String(), "\n") {
		if strings.Contains(line, internalAddr) {
			assert.Contains(t, line, `"request_id":"`, "the cause is logged with the request id")
			assert.Contains(t, line, `"code":"Unavailable"`)
		}
	}
}

// No protocol shows a client a driver's message, an internal address or a
// peer's transport error: they are replaced, and the code and RetryInfo stay.
func TestNoInternalAddressReachesAClient(t *testing.T) {
	h := startWithOutbox(t)
	for _, token := range []string{"db", "peer", "internal"} {
		t.Run(token, func(t *testing.T) {
			_, err := notificationv1.NewNotificationServiceClient(h.grpcConn).ListMyNotifications(context.Background(),
				&notificationv1.ListMyNotificationsRequest{PageToken: token})
			require.Error(t, err)
			assert.NotContains(t, status.Convert(err).Message(), internalAddr, "grpc")
			if token == "internal" {
				assert.Equal(t, codes.Internal, status.Code(err))
			} else {
				assert.Equal(t, codes.Unavailable, status.Code(err))
			}

			client := connect.NewClient[notificationv1.ListMyNotificationsRequest, notificationv1.ListMyNotificationsResponse](
				http.DefaultClient, h.baseURL+"/slipway.notification.v1.NotificationService/ListMyNotifications")
			_, err = client.CallUnary(context.Background(), connect.NewRequest(&notificationv1.ListMyNotificationsRequest{PageToken: token}))
			require.Error(t, err)
			assert.NotContains(t, err.Error(), internalAddr, "connect")

			_, body := restGet(t, h, "/v1/notifications?pageToken="+token)
			assert.NotContains(t, body, internalAddr, "rest")
		})
	}
}

func TestHostileRESTInputIsA4xxProblem(t *testing.T) {
	h := start(t, nil)
	tests := []struct {
		name, method, path string
		status             int
		field              string
	}{
		{"invalid UTF-8 in a path parameter", http.MethodGet, "/v1/products/%ED%A0%80", http.StatusBadRequest, "id"},
		{"NUL in a path parameter", http.MethodGet, "/v1/products/a%00b", http.StatusBadRequest, "id"},
		{"invalid UTF-8 in a query parameter", http.MethodGet, "/v1/products?pageToken=%ff%fe", http.StatusBadRequest, "pageToken"},
		{"invalid UTF-8 in a query parameter's name", http.MethodGet, "/v1/products?%ff=1", http.StatusBadRequest, "query"},
		{"a malformed query string", http.MethodGet, "/v1/products?pageToken=%zz", http.StatusBadRequest, "query"},
		{"an empty segment before a custom verb", http.MethodPost, "/v1/products/:adjustStock", http.StatusBadRequest, "path"},
		{"an empty segment before a custom verb, another route", http.MethodPost, "/v1/reservations/:release", http.StatusBadRequest, "path"},
		{"a method the path does not take", http.MethodDelete, "/v1/products/mug", http.StatusMethodNotAllowed, ""},
		{"an unknown path", http.MethodGet, "/v1/nothing/here", http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, h.baseURL+tt.path, strings.NewReader("{}"))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			assert.Equal(t, tt.status, resp.StatusCode, string(raw))
			assert.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
			p := problem(t, string(raw))
			assert.Equal(t, tt.status, p.Status)
			assert.Equal(t, http.StatusText(tt.status), p.Title)
			assert.NotContains(t, p.Detail, "grpc:", "no Go error string")
			if tt.field != "" {
				require.NotEmpty(t, p.Errors, "the problem names the field")
				assert.Equal(t, tt.field, p.Errors[0].Field)
			}
		})
	}
}

func restGet(t *testing.T, h *harness, path string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(h.baseURL + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(raw)
}

func problem(t *testing.T, body string) server.Problem {
	t.Helper()
	var p server.Problem
	require.NoError(t, json.Unmarshal([]byte(body), &p), body)
	return p
}

// A Connect message that does not parse is the client's fault: 400
// invalid_argument naming the message type, not vanguard's 500 "unknown"
// with the parser's Go error; a method no service has is a Connect 404.
func TestHostileConnectInputIsA4xxConnectError(t *testing.T) {
	h := start(t, nil)
	tests := []struct {
		name, path, contentType, body string
		status                        int
		code                          string
	}{
		{"malformed JSON", "/slipway.inventory.v1.InventoryService/GetProduct", "application/json", "{", http.StatusBadRequest, "invalid_argument"},
		{"JSON of the wrong shape", "/slipway.inventory.v1.InventoryService/GetProduct", "application/json", "[]", http.StatusBadRequest, "invalid_argument"},
		{"invalid UTF-8", "/slipway.inventory.v1.InventoryService/GetProduct", "application/json", "{\"id\": \"\xed\xa0\x80\"}", http.StatusBadRequest, "invalid_argument"},
		{"unknown method", "/slipway.inventory.v1.InventoryService/Nope", "application/json", "{}", http.StatusNotFound, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, h.baseURL+tt.path, strings.NewReader(tt.body))
			require.NoError(t, err)
			req.Header.Set("Content-Type", tt.contentType)
			req.Header.Set("Connect-Protocol-Version", "1")
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			assert.Equal(t, tt.status, resp.StatusCode, string(raw))
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			var e struct{ Code, Message string }
			require.NoError(t, json.Unmarshal(raw, &e), string(raw))
			assert.Equal(t, tt.code, e.Code)
			assert.NotContains(t, e.Message, "proto:", "no parser internals")
		})
	}
}
