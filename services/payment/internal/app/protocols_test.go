package app_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	paymentv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/payment/v1"
	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/server/protocoltest"
)

// TestProtocolsAgree runs one scenario over gRPC, REST and gRPC-Web against
// one service and asserts that each step answers as expected and that the
// three protocols answer every step alike.
func TestProtocolsAgree(t *testing.T) {
	s := start(t)
	protocols := protocoltest.Protocols

	transcripts := make(map[protocoltest.Protocol]map[string]answer, len(protocols))
	for _, p := range protocols {
		t.Run(string(p), func(t *testing.T) {
			transcripts[p] = runScenario(t, caller{protocol: p, s: s})
		})
	}
	t.Run("every protocol answers alike", func(t *testing.T) {
		want := transcripts[protocols[0]]
		require.NotEmpty(t, want)
		for _, p := range protocols[1:] {
			assert.Equal(t, want, transcripts[p], "%s answered differently from %s", p, protocols[0])
		}
	})
}

// answer is one step's outcome reduced to what every protocol must report
// alike. Ids and owners differ by protocol (each runs as its own users), so
// steps check them themselves and keep the names.
type answer struct {
	Code   codes.Code
	Fields []string // the fields a google.rpc.BadRequest names, in order

	Name      string   // the payment a create or get returned
	Names     []string // the payments a listing returned, in order
	MorePages bool
}

// runScenario runs every step over c, one subtest each, and returns what
// each step answered by step name.
func runScenario(t *testing.T, c caller) map[string]answer {
	owner := "user-owner-" + string(c.protocol)
	ownerToken := c.s.token(t, owner, auth.RoleCustomer)
	otherToken := c.s.token(t, "user-other-"+string(c.protocol), auth.RoleCustomer)
	adminToken := c.s.token(t, "user-admin-"+string(c.protocol), auth.RoleAdmin)

	got := make(map[string]answer)
	step := func(name string, want answer, call func(t *testing.T) answer) {
		t.Run(name, func(t *testing.T) {
			a := call(t)
			got[name] = a
			assert.Equal(t, want, a)
		})
	}

	names := []string{"one", "two", "three", "four", "five", "six", "seven"}
	var ids []string
	for _, name := range names {
		step("create "+name, answer{Name: name}, func(t *testing.T) answer {
			resp, f := c.create(t, ownerToken, &paymentv1.CreatePaymentRequest{Name: name})
			if payment := resp.GetPayment(); payment != nil {
				assert.Equal(t, owner, payment.GetOwnerId())
				assert.NotEmpty(t, payment.GetId())
				ids = append(ids, payment.GetId())
			}
			return answer{Code: f.Code, Fields: f.Fields, Name: resp.GetPayment().GetName()}
		})
	}
	require.Len(t, ids, len(names), "every create answered an id")

	step("create with an empty name", answer{Code: codes.InvalidArgument, Fields: []string{"name"}}, func(t *testing.T) answer {
		resp, f := c.create(t, ownerToken, &paymentv1.CreatePaymentRequest{})
		return answer{Code: f.Code, Fields: f.Fields, Name: resp.GetPayment().GetName()}
	})
	step("create with a blank name", answer{Code: codes.InvalidArgument, Fields: []string{"name"}}, func(t *testing.T) answer {
		resp, f := c.create(t, ownerToken, &paymentv1.CreatePaymentRequest{Name: "   "})
		return answer{Code: f.Code, Fields: f.Fields, Name: resp.GetPayment().GetName()}
	})
	step("create without a token", answer{Code: codes.Unauthenticated}, func(t *testing.T) answer {
		resp, f := c.create(t, "", &paymentv1.CreatePaymentRequest{Name: "anonymous"})
		return answer{Code: f.Code, Fields: f.Fields, Name: resp.GetPayment().GetName()}
	})

	get := func(token, id string) func(t *testing.T) answer {
		return func(t *testing.T) answer {
			resp, f := c.get(t, token, &paymentv1.GetPaymentRequest{Id: id})
			if payment := resp.GetPayment(); payment != nil {
				assert.Equal(t, id, payment.GetId())
			}
			return answer{Code: f.Code, Fields: f.Fields, Name: resp.GetPayment().GetName()}
		}
	}
	step("the owner gets theirs", answer{Name: names[0]}, get(ownerToken, ids[0]))
	step("an admin gets anyone's", answer{Name: names[0]}, get(adminToken, ids[0]))
	step("another user gets NotFound", answer{Code: codes.NotFound}, get(otherToken, ids[0]))
	step("an unknown id is NotFound", answer{Code: codes.NotFound}, get(ownerToken, "no-such-id"))
	step("get without a token", answer{Code: codes.Unauthenticated}, get("", ids[0]))

	list := func(token string, req *paymentv1.ListPaymentsRequest) func(t *testing.T) answer {
		return func(t *testing.T) answer {
			resp, f := c.list(t, token, req)
			return answer{Code: f.Code, Fields: f.Fields, Names: namesOf(resp), MorePages: resp.GetNextPageToken() != ""}
		}
	}
	step("list a page of five", answer{Names: names[:5], MorePages: true}, list(ownerToken, &paymentv1.ListPaymentsRequest{PageSize: 5}))
	step("follow the page tokens", answer{Names: names}, func(t *testing.T) answer {
		var all []string
		req := &paymentv1.ListPaymentsRequest{PageSize: 3}
		for range len(names) {
			resp, f := c.list(t, ownerToken, req)
			require.Equal(t, codes.OK, f.Code, "page after %q", req.GetPageToken())
			all = append(all, namesOf(resp)...)
			if req.PageToken = resp.GetNextPageToken(); req.PageToken == "" {
				return answer{Names: all}
			}
		}
		t.Fatalf("no last page after %d pages", len(names))
		return answer{}
	})
	step("another user lists none of them", answer{}, list(otherToken, &paymentv1.ListPaymentsRequest{}))
	step("list with page_size above 100", answer{Code: codes.InvalidArgument, Fields: []string{"page_size"}},
		list(ownerToken, &paymentv1.ListPaymentsRequest{PageSize: 101}))
	step("list with a garbage page token", answer{Code: codes.InvalidArgument, Fields: []string{"page_token"}},
		list(ownerToken, &paymentv1.ListPaymentsRequest{PageToken: "not a token!"}))
	step("list without a token", answer{Code: codes.Unauthenticated}, list("", &paymentv1.ListPaymentsRequest{}))
	return got
}

func namesOf(resp *paymentv1.ListPaymentsResponse) []string {
	var names []string
	for _, payment := range resp.GetPayments() {
		names = append(names, payment.GetName())
	}
	return names
}

// caller calls the payment service over one protocol. Its methods return the
// response (nil on failure) and how the call ended; anything but a
// well-formed answer, such as a broken connection, fails the test.
type caller struct {
	protocol protocoltest.Protocol
	s        *service
}

func (c caller) client() protocoltest.Client {
	return protocoltest.Client{Protocol: c.protocol, Conn: c.s.conn, HTTPAddr: c.s.HTTPAddr}
}

func (c caller) create(t *testing.T, token string, req *paymentv1.CreatePaymentRequest) (*paymentv1.CreatePaymentResponse, protocoltest.Failure) {
	t.Helper()
	r := protocoltest.Route{Procedure: paymentv1.PaymentService_CreatePayment_FullMethodName, Verb: http.MethodPost, Path: "/v1/payment"}
	return protocoltest.Invoke[paymentv1.CreatePaymentResponse](t, c.client(), r, token, req)
}

func (c caller) get(t *testing.T, token string, req *paymentv1.GetPaymentRequest) (*paymentv1.GetPaymentResponse, protocoltest.Failure) {
	t.Helper()
	r := protocoltest.Route{Procedure: paymentv1.PaymentService_GetPayment_FullMethodName, Verb: http.MethodGet, Path: "/v1/payment/" + url.PathEscape(req.GetId())}
	return protocoltest.Invoke[paymentv1.GetPaymentResponse](t, c.client(), r, token, req)
}

func (c caller) list(t *testing.T, token string, req *paymentv1.ListPaymentsRequest) (*paymentv1.ListPaymentsResponse, protocoltest.Failure) {
	t.Helper()
	q := protocoltest.PageQuery(req)
	r := protocoltest.Route{Procedure: paymentv1.PaymentService_ListPayments_FullMethodName, Verb: http.MethodGet, Path: "/v1/payment?" + q.Encode()}
	return protocoltest.Invoke[paymentv1.ListPaymentsResponse](t, c.client(), r, token, req)
}
