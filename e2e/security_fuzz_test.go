package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/reflect/protoreflect"

	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
	notificationv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/notification/v1"
	orderv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/order/v1"
	userv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/user/v1"
	"github.com/slipway-dev/slipway/api/gen/openapi"
)

// The fuzzer's bounds: a few hundred requests, a minute at most. Set
// SLIPWAY_FUZZ_SEED to replay a run (the seed is printed) and
// SLIPWAY_FUZZ_REQUESTS to send more or fewer.
const (
	fuzzDefaultRequests = 400
	fuzzTimeBudget      = 90 * time.Second
)

// fuzzService is one service as the fuzzer sees it: the REST operations
// of its OpenAPI document and the Connect methods of its proto service.
type fuzzService struct {
	name    string
	doc     []byte
	service protoreflect.ServiceDescriptor
}

var fuzzServices = []fuzzService{
	{"user", openapi.User, userv1.File_slipway_user_v1_user_proto.Services().Get(0)},
	{"inventory", openapi.Inventory, inventoryv1.File_slipway_inventory_v1_inventory_proto.Services().Get(0)},
	{"order", openapi.Order, orderv1.File_slipway_order_v1_order_proto.Services().Get(0)},
	{"notification", openapi.Notification, notificationv1.File_slipway_notification_v1_notification_proto.Services().Get(0)},
}

// fuzzOperation is one REST operation of an OpenAPI document.
type fuzzOperation struct {
	service, id, method, path string // path as in the document: /v1/orders/{id}:cancel
	params                    []fuzzParam
	body                      bool
}

type fuzzParam struct {
	Name   string `yaml:"name"`
	In     string `yaml:"in"`
	Schema struct {
		Type string `yaml:"type"`
	} `yaml:"schema"`
}

// fuzzOperations reads every operation of every document.
func fuzzOperations(t *testing.T) []fuzzOperation {
	t.Helper()
	var ops []fuzzOperation
	for _, svc := range fuzzServices {
		var doc struct {
			Paths map[string]map[string]struct {
				OperationID string         `yaml:"operationId"`
				Parameters  []fuzzParam    `yaml:"parameters"`
				RequestBody map[string]any `yaml:"requestBody"`
			} `yaml:"paths"`
		}
		require.NoError(t, yaml.Unmarshal(svc.doc, &doc), svc.name)
		require.NotEmpty(t, doc.Paths, "%s's OpenAPI document has paths", svc.name)
		for path, methods := range doc.Paths {
			for method, op := range methods {
				ops = append(ops, fuzzOperation{
					service: svc.name, id: op.OperationID, method: strings.ToUpper(method), path: path,
					params: op.Parameters, body: op.RequestBody != nil,
				})
			}
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].id < ops[j].id }) // map order must not change a seeded run
	return ops
}

// fuzzRequest is one hostile request and what it was built from.
type fuzzRequest struct {
	service, target, why string
	method, path         string // path is raw: already escaped, or deliberately not
	contentType          string
	body                 []byte
	connect              bool
	// strict: a well-formed Connect call (POST, JSON, the method's path)
	// with a bad message, which must get a Connect JSON error. The other
	// Connect variants (wrong method, codec or path) are refused before
	// the protocol is known: any 4xx.
	strict bool
}

// fuzzHostile are values no handler expects: invalid UTF-8 (a lone
// surrogate, a stray continuation byte), empty, huge, the wrong type,
// traversal and injection shapes.
var fuzzHostile = []string{"%ED%A0%80", "%FF%FE", "%C0%AF", "", strings.Repeat("A", 16<<10), "-1", "99999999999999999999",
	"..%2F..%2Fetc%2Fpasswd", "%00", "'%20OR%201%3D1--", "%7B%7D", "true", "1e309", "%2F%2F"}

// fuzzBodies are request bodies no handler expects. None is a valid
// request, so the fuzzer changes nothing even where it is authorised.
var fuzzBodies = []string{
	"{", "[]", "null", `"x"`, "{}", `{"zzz": 1}`, `{"items": "x"}`, `{"items": [{"quantity": "many"}]}`,
	`{"idempotencyKey": 7}`, `{"email": ["a"]}`, `{"pageSize": -5}`, "\xff\xfe{}", "{\"email\": \"\xed\xa0\x80@x\"}",
	`{"quantity": 1e400}`, `{"id": {"$ne": null}}`, strings.Repeat("[", 10000), `{"a": "z}`,
}

var fuzzContentTypes = []string{"application/json", "text/plain", "application/xml", "application/x-www-form-urlencoded",
	"multipart/form-data; boundary=x", "application/json; charset=latin1", ""}

// fuzzREST builds a hostile variant of a REST operation.
func fuzzREST(rng *rand.Rand, op fuzzOperation) fuzzRequest {
	r := fuzzRequest{service: op.service, target: op.method + " " + op.path, method: op.method, contentType: "application/json"}
	path := op.path
	var query []string
	pick := func(list []string) string { return list[rng.IntN(len(list))] }
	value := pick(fuzzHostile)
	switch kind := rng.IntN(7); {
	case kind == 0 && strings.Contains(path, "{"):
		r.why = "path parameter " + strconv.Quote(value)
		path = fuzzFill(path, func(string) string { return value })
	case kind == 1:
		r.why = "empty path segment"
		path = fuzzFill(path, func(string) string { return "" })
		if !strings.Contains(op.path, "{") {
			path += "/"
		}
	case kind == 2:
		method := pick([]string{"PUT", "PATCH", "DELETE", "GET", "POST", "OPTIONS", "TRACE"})
		r.why = "method " + method
		r.method = method
	case kind == 3:
		r.why = "query " + strconv.Quote(value)
		name := pick([]string{"pageSize", "pageToken", "page_size", "zzz", "%FF", "id"})
		for _, p := range op.params {
			if p.In == "query" && rng.IntN(2) == 0 {
				name = p.Name
			}
		}
		query = append(query, name+"="+value, name+"="+pick(fuzzHostile))
	case kind == 4:
		r.contentType = pick(fuzzContentTypes)
		r.why = "content type " + strconv.Quote(r.contentType)
		r.body = []byte(`{"zzz": 1}`)
	default:
		r.body = []byte(pick(fuzzBodies))
		r.why = "body " + fuzzShort(string(r.body))
	}
	path = fuzzFill(path, func(name string) string { return "fuzz-" + name })
	r.path = path
	if len(query) > 0 {
		r.path += "?" + strings.Join(query, "&")
	}
	if r.body == nil && op.body {
		r.body = []byte(pick(fuzzBodies))
	}
	return r
}

// fuzzFill replaces each {param} of an OpenAPI path with value(param).
func fuzzFill(path string, value func(string) string) string {
	var b strings.Builder
	for {
		i := strings.Index(path, "{")
		if i < 0 {
			return b.String() + path
		}
		j := strings.Index(path[i:], "}")
		b.WriteString(path[:i])
		b.WriteString(value(path[i+1 : i+j]))
		path = path[i+j+1:]
	}
}

// fuzzConnect builds a hostile Connect unary call of a method.
func fuzzConnect(rng *rand.Rand, svc fuzzService, m protoreflect.MethodDescriptor) fuzzRequest {
	path := "/" + string(svc.service.FullName()) + "/" + string(m.Name())
	r := fuzzRequest{service: svc.name, target: "Connect " + path, method: http.MethodPost, path: path,
		contentType: "application/json", connect: true}
	pick := func(list []string) string { return list[rng.IntN(len(list))] }
	switch rng.IntN(5) {
	case 0:
		r.contentType = pick([]string{"text/plain", "application/xml", "application/grpc-web+xml", "application/json; charset=latin1"})
		r.why = "content type " + strconv.Quote(r.contentType)
		r.body = []byte("{}")
	case 1:
		r.method = pick([]string{"GET", "PUT", "DELETE", "PATCH"})
		r.why = "method " + r.method
	case 2:
		r.path += pick([]string{"/", "%ED%A0%80", "X", "/..%2F"})
		r.why = "mangled method path " + r.path
		r.body = []byte("{}")
	default:
		r.body = []byte(pick(fuzzBodies))
		r.why = "body " + fuzzShort(string(r.body))
		r.strict = true
	}
	return r
}

func fuzzShort(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return strconv.Quote(s)
}

// fuzzSnapshot is what must not change: every product's stock, and how
// many users, orders, reservations and notifications there are.
type fuzzSnapshot struct {
	Stocks map[string]int64
	Counts map[string]int64
}

func fuzzTakeSnapshot(t *testing.T, c *cluster) fuzzSnapshot {
	t.Helper()
	s := fuzzSnapshot{Stocks: map[string]int64{}, Counts: map[string]int64{}}
	query := func(svc string, fn func(db *sql.DB)) {
		db, err := sql.Open("pgx", c.dbs.urls[svc])
		require.NoError(t, err)
		defer db.Close()
		fn(db)
	}
	query("inventory", func(db *sql.DB) {
		rows, err := db.Query("SELECT id, stock FROM products")
		require.NoError(t, err)
		defer rows.Close()
		for rows.Next() {
			var id string
			var stock int64
			require.NoError(t, rows.Scan(&id, &stock))
			s.Stocks[id] = stock
		}
		require.NoError(t, rows.Err())
	})
	for svc, tables := range map[string][]string{
		"user": {"users"}, "order": {"orders", "order_items"}, "inventory": {"reservations", "stock_adjustments"},
		"notification": {"notifications"},
	} {
		query(svc, func(db *sql.DB) {
			for _, table := range tables {
				var n int64
				require.NoError(t, db.QueryRow("SELECT count(*) FROM "+table).Scan(&n), table)
				s.Counts[table] = n
			}
		})
	}
	return s
}

// TestHostileInputGetsA4xx sends a few hundred malformed requests, built
// from the OpenAPI documents (REST) and the proto services (Connect), to
// every operation of the live system. Hostile input is the client's fault:
// every answer must be a 4xx (never a 5xx), with a problem+json body over
// REST and a Connect JSON error over Connect, and nothing may change in
// the databases.
func TestHostileInputGetsA4xx(t *testing.T) {
	c := startCluster(t)
	defer c.dumpOnFailure()
	if c.dbs.dialect != "postgres" {
		t.Skip("compares the databases before and after, which needs PostgreSQL (CI has it)")
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("SLIPWAY_FUZZ_SEED"); s != "" {
		var err error
		seed, err = strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "SLIPWAY_FUZZ_SEED")
	}
	total := fuzzDefaultRequests
	if s := os.Getenv("SLIPWAY_FUZZ_REQUESTS"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err, "SLIPWAY_FUZZ_REQUESTS")
		total = n
	}
	t.Logf("fuzz seed %d, %d requests (replay: SLIPWAY_FUZZ_SEED=%d)", seed, total, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))

	// The fuzzer's own user, registered before the snapshot.
	_, token := customer(t, c.shop(t, "rest"), "fuzzer")
	before := fuzzTakeSnapshot(t, c)

	ops := fuzzOperations(t)
	require.GreaterOrEqual(t, len(ops), 12, "every REST operation of the services' documents")
	var methods []struct {
		svc fuzzService
		m   protoreflect.MethodDescriptor
	}
	for _, svc := range fuzzServices {
		ms := svc.service.Methods()
		for i := range ms.Len() {
			if m := ms.Get(i); !m.IsStreamingClient() && !m.IsStreamingServer() {
				methods = append(methods, struct {
					svc fuzzService
					m   protoreflect.MethodDescriptor
				}{svc, m})
			}
		}
	}

	// Round robin over every operation and method, so each gets its share
	// whatever the count; the variant of each is the seed's.
	var reqs []fuzzRequest
	for i := 0; len(reqs) < total; i++ {
		if i%2 == 0 {
			reqs = append(reqs, fuzzREST(rng, ops[(i/2)%len(ops)]))
		} else {
			m := methods[(i/2)%len(methods)]
			reqs = append(reqs, fuzzConnect(rng, m.svc, m.m))
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), fuzzTimeBudget)
	defer cancel()
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	statuses := map[int]int{}
	for i, fr := range reqs {
		if ctx.Err() != nil {
			t.Fatalf("time budget %s spent after %d of %d requests", fuzzTimeBudget, i, len(reqs))
		}
		auth := ""
		switch rng.IntN(4) {
		case 0:
		case 1:
			auth = "Bearer not-a-token"
		default:
			auth = "Bearer " + token
		}
		status, ct, body := fuzzSend(ctx, t, client, "http://"+c.procs[fr.service].httpAddr, fr, auth)
		statuses[status]++
		where := fmt.Sprintf("request %d (seed %d): %s %s (%s), %s", i, seed, fr.method, fuzzShort(fr.path), fr.target, fr.why)
		if !assert.Less(t, status, 500, "%s: hostile input got a server error: %s", where, fuzzShort(body)) {
			continue
		}
		if status < 400 {
			continue // a mangled request can still be a valid one (an empty list); nothing changed is checked below
		}
		mediaType, _, _ := mime.ParseMediaType(ct)
		if fr.connect && !fr.strict && mediaType != "application/json" {
			if mediaType == "application/problem+json" {
				assert.NoError(t, json.Unmarshal([]byte(body), new(map[string]any)), "%s: %s", where, fuzzShort(body))
			}
			continue // refused before the protocol is known: a 4xx is all that is asked
		}
		if fr.connect {
			var e struct {
				Code string `json:"code"`
			}
			if assert.Equal(t, "application/json", mediaType, "%s: a Connect error is JSON: %s", where, fuzzShort(body)) {
				assert.NoError(t, json.Unmarshal([]byte(body), &e), "%s: %s", where, fuzzShort(body))
				assert.NotEmpty(t, e.Code, "%s: a Connect error has a code: %s", where, fuzzShort(body))
			}
			continue
		}
		if assert.Equal(t, "application/problem+json", mediaType, "%s: REST errors are problems: %s", where, fuzzShort(body)) {
			var p struct {
				Status int    `json:"status"`
				Title  string `json:"title"`
				Code   string `json:"code"`
			}
			assert.NoError(t, json.Unmarshal([]byte(body), &p), "%s: %s", where, fuzzShort(body))
			assert.Equal(t, status, p.Status, "%s", where)
			assert.NotEmpty(t, p.Code, "%s", where)
		}
		assert.NotContains(t, body, "grpc: error while marshaling", where)
	}
	keys := make([]int, 0, len(statuses))
	for k := range statuses {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var summary []string
	for _, k := range keys {
		summary = append(summary, fmt.Sprintf("%d x%d", k, statuses[k]))
	}
	t.Logf("%d requests to %d REST operations and %d Connect methods: %s", len(reqs), len(ops), len(methods), strings.Join(summary, ", "))

	// Nothing changed: the hostile requests were refused before any write.
	time.Sleep(500 * time.Millisecond) // an event in flight would still land
	after := fuzzTakeSnapshot(t, c)
	assert.Equal(t, before, after, "the databases are as they were")
}

// fuzzSend sends one request and returns its status, content type and body.
func fuzzSend(ctx context.Context, t *testing.T, client *http.Client, base string, fr fuzzRequest, auth string) (int, string, string) {
	t.Helper()
	var body io.Reader
	if fr.body != nil {
		body = bytes.NewReader(fr.body)
	}
	req, err := http.NewRequestWithContext(ctx, fr.method, base+"/", body)
	require.NoError(t, err)
	// The path goes out exactly as built, escapes and all.
	req.URL.Opaque = fr.path
	if i := strings.Index(fr.path, "?"); i >= 0 {
		req.URL.Opaque, req.URL.RawQuery = fr.path[:i], fr.path[i+1:]
	}
	if fr.contentType != "" {
		req.Header.Set("Content-Type", fr.contentType)
	}
	if fr.connect {
		req.Header.Set("Connect-Protocol-Version", "1")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := client.Do(req)
	require.NoError(t, err, "%s %s", fr.method, fuzzShort(fr.path))
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(raw)
}
