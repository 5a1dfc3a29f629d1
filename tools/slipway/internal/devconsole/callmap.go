package devconsole

import (
	"cmp"
	"fmt"
	"math"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"
)

// The live map (GET /api/map) is drawn from the spans the console received:
// every call between two parties is an edge, measured over a recent window.
// Which span stands for a call:
//
//   - a CLIENT span of an RPC (rpc.system.name or rpc.system) is a call from its service to the
//     service of its child SERVER span, or, while that has not arrived, to
//     the service its rpc.method or rpc.service names (server.address
//     failing that);
//   - a SERVER span whose parent is not such a client span is a call from
//     the service of its parent, or from "clients" when the parent is not
//     stored (a browser, a script, curl);
//   - a CLIENT span with db.system (or db.system.name) is a call to that
//     database, one with messaging.system a publish to that broker;
//   - a PRODUCER span is a publish to its messaging.system, a CONSUMER span a
//     delivery from it to the span's service;
//   - any other CLIENT span (an HTTP call, such as payment's to Stripe) is
//     a call to peer.service or server.address (with server.port unless 80
//     or 443), or, naming no peer, to an external node named after the span.

// Defaults and bounds of the map's window and of the traces kept per edge.
const (
	DefaultMapWindow  = time.Minute
	MaxMapWindow      = 15 * time.Minute
	mapTracesPerEdge  = 10
	clientsNode       = "clients"
	nodeKindClient    = "client"
	nodeKindService   = "service"
	nodeKindDatabase  = "database"
	nodeKindBroker    = "broker"
	nodeKindExternal  = "external"
	edgeKindCall      = "call"
	edgeKindPublish   = "publish"
	edgeKindDelivery  = "deliver"
	edgeKindDatabase  = "query"
	spanKindServer    = "SERVER"
	spanKindClient    = "CLIENT"
	spanKindProducer  = "PRODUCER"
	spanKindConsumer  = "CONSUMER"
	attrRPCSystem     = "rpc.system"
	attrRPCSystemName = "rpc.system.name"
	attrRPCService    = "rpc.service"
	attrRPCMethod     = "rpc.method"
	attrServerAddress = "server.address"
	attrServerPort    = "server.port"
	attrPeerService   = "peer.service"
	attrMessaging     = "messaging.system"
)

// CallMap is the body of GET /api/map: who calls whom, how often, how well.
type CallMap struct {
	WindowSeconds float64   `json:"window_seconds"`
	At            time.Time `json:"at"`
	Nodes         []MapNode `json:"nodes"`
	Edges         []MapEdge `json:"edges"`
}

// MapNode is one party of the map: the clients, a service, or a
// dependency (a database, a broker, an external peer).
type MapNode struct {
	ID    string `json:"id"`
	Label string `json:"label"`
	Kind  string `json:"kind"` // client, service, database, broker or external
}

// MapEdge is the calls from one node to another within the window.
type MapEdge struct {
	From       string     `json:"from"`
	To         string     `json:"to"`
	Kind       string     `json:"kind"` // call, query, publish or deliver
	Count      int        `json:"count"`
	Errors     int        `json:"errors"`
	RatePerSec float64    `json:"rate_per_sec"`
	ErrorRate  float64    `json:"error_rate"` // errors / count
	P99MS      float64    `json:"p99_ms"`
	Operations []string   `json:"operations"` // span names, most frequent first, at most five
	Traces     []MapTrace `json:"traces"`     // the most recent first
	durations  []float64
	operations map[string]int
	traceByID  map[string]int // index in Traces
}

// MapTrace is one recent trace through an edge.
type MapTrace struct {
	TraceID    string    `json:"trace_id"`
	Operation  string    `json:"operation"`
	Start      time.Time `json:"start"`
	DurationMS float64   `json:"duration_ms"`
	Error      bool      `json:"error"`
}

// dependencyLabels are how the map names well-known systems.
var dependencyLabels = map[string]string{
	"postgresql": "PostgreSQL",
	"sqlite":     "SQLite",
	"redis":      "Redis",
	"nats":       "NATS",
	"kafka":      "Kafka",
	"rabbitmq":   "RabbitMQ",
	"mysql":      "MySQL",
}

// Map computes the service map of the spans that ended within window
// before now. known are service names the map shows even without traffic,
// and the names an rpc.service is matched against.
func (s *TraceStore) Map(now time.Time, window time.Duration, known []string) CallMap {
	m := newMapBuilder(known)
	from := uint64(max(now.Add(-window).UnixNano(), 0)) //nolint:gosec // clamped to zero
	to := uint64(max(now.UnixNano(), 0))                //nolint:gosec // clamped to zero
	s.mu.RLock()
	for _, t := range s.traces {
		m.addTrace(t, from, to)
	}
	s.mu.RUnlock()
	return m.result(now, window)
}

type mapBuilder struct {
	known []string
	nodes map[string]MapNode
	edges map[[2]string]*MapEdge
}

func newMapBuilder(known []string) *mapBuilder {
	m := &mapBuilder{known: known, nodes: map[string]MapNode{}, edges: map[[2]string]*MapEdge{}}
	for _, k := range known {
		m.nodes[k] = MapNode{ID: k, Label: k, Kind: nodeKindService}
	}
	return m
}

// addTrace adds the calls of t's spans that ended in [from, to].
func (m *mapBuilder) addTrace(t *storedTrace, from, to uint64) {
	byID := make(map[string]*Span, len(t.spans))
	children := map[string][]*Span{}
	for i := range t.spans {
		sp := &t.spans[i]
		byID[sp.SpanID] = sp
		if sp.ParentSpanID != "" {
			children[sp.ParentSpanID] = append(children[sp.ParentSpanID], sp)
		}
	}
	for i := range t.spans {
		sp := &t.spans[i]
		if sp.EndUnixNano < from || sp.EndUnixNano > to {
			continue
		}
		caller, callee, kind, ok := m.call(sp, byID, children)
		if !ok {
			continue
		}
		m.record(caller, callee, kind, t.id, sp)
	}
}

// call names the parties of the call sp stands for, if it stands for one.
func (m *mapBuilder) call(sp *Span, byID map[string]*Span, children map[string][]*Span) (caller, callee MapNode, kind string, ok bool) {
	self := m.service(sp.Service)
	attrs := sp.Attributes
	switch sp.Kind {
	case spanKindServer:
		parent := byID[sp.ParentSpanID]
		switch {
		case parent == nil:
			return MapNode{ID: clientsNode, Label: clientsNode, Kind: nodeKindClient}, self, edgeKindCall, true
		case parent.Kind == spanKindClient && isRPC(parent.Attributes):
			return MapNode{}, MapNode{}, "", false // the client span is the call
		case parent.Service == sp.Service:
			return MapNode{}, MapNode{}, "", false
		}
		return m.service(parent.Service), self, edgeKindCall, true
	case spanKindProducer:
		if b := attrs[attrMessaging]; b != "" {
			return self, dependency(b, nodeKindBroker), edgeKindPublish, true
		}
	case spanKindConsumer:
		if b := attrs[attrMessaging]; b != "" {
			return dependency(b, nodeKindBroker), self, edgeKindDelivery, true
		}
	case spanKindClient:
		if db := cmp.Or(attrs["db.system.name"], attrs["db.system"]); db != "" {
			return self, dependency(db, nodeKindDatabase), edgeKindDatabase, true
		}
		if b := attrs[attrMessaging]; b != "" {
			return self, dependency(b, nodeKindBroker), edgeKindPublish, true
		}
		if isRPC(attrs) {
			for _, c := range children[sp.SpanID] {
				if c.Kind == spanKindServer {
					return self, m.service(c.Service), edgeKindCall, true
				}
			}
			if svc := m.knownIn(rpcService(attrs)); svc != "" {
				return self, m.service(svc), edgeKindCall, true
			}
		}
		peer := cmp.Or(attrs[attrPeerService], rpcService(attrs), serverAddress(attrs), sp.Name)
		return self, MapNode{ID: "external:" + peer, Label: peer, Kind: nodeKindExternal}, edgeKindCall, true
	}
	return MapNode{}, MapNode{}, "", false
}

// serverAddress is the server a span calls, host:port when the port is not
// its scheme's default (stripe-mock on 127.0.0.1:12111, not just
// 127.0.0.1), or "".
func serverAddress(attrs map[string]string) string {
	host, port := attrs[attrServerAddress], attrs[attrServerPort]
	if host == "" || port == "" || port == "443" || port == "80" {
		return host
	}
	return net.JoinHostPort(host, port)
}

// isRPC reports whether attrs are those of an RPC span, in the semantic
// conventions before 1.38 (rpc.system, as platform/server sets) or after
// (rpc.system.name, as otelgrpc's client handler sets).
func isRPC(attrs map[string]string) bool {
	return attrs[attrRPCSystem] != "" || attrs[attrRPCSystemName] != ""
}

// rpcService is the RPC service a span calls: rpc.service in the older
// conventions, the part of rpc.method ("pkg.Service/Method") before the
// slash in the newer ones.
func rpcService(attrs map[string]string) string {
	if s := attrs[attrRPCService]; s != "" {
		return s
	}
	if svc, _, ok := strings.Cut(attrs[attrRPCMethod], "/"); ok {
		return svc
	}
	return ""
}

func (m *mapBuilder) service(name string) MapNode {
	return MapNode{ID: name, Label: name, Kind: nodeKindService}
}

func dependency(system, kind string) MapNode {
	label, ok := dependencyLabels[strings.ToLower(system)]
	if !ok {
		label = system
	}
	return MapNode{ID: kind + ":" + strings.ToLower(system), Label: label, Kind: kind}
}

// knownIn returns the known service an rpc.service such as
// "slipway.inventory.v1.InventoryService" names, or "".
func (m *mapBuilder) knownIn(rpcService string) string {
	for part := range strings.SplitSeq(strings.ToLower(rpcService), ".") {
		if slices.Contains(m.known, part) {
			return part
		}
	}
	return ""
}

func (m *mapBuilder) record(caller, callee MapNode, kind, traceID string, sp *Span) {
	m.nodes[caller.ID] = caller
	m.nodes[callee.ID] = callee
	key := [2]string{caller.ID, callee.ID}
	e := m.edges[key]
	if e == nil {
		e = &MapEdge{From: caller.ID, To: callee.ID, Kind: kind, operations: map[string]int{}, traceByID: map[string]int{}}
		m.edges[key] = e
	}
	e.Count++
	failed := sp.Status.Code == statusError
	if failed {
		e.Errors++
	}
	e.durations = append(e.durations, sp.DurationMS)
	e.operations[sp.Name]++
	start := time.Unix(0, int64(sp.StartUnixNano)).UTC() //nolint:gosec // Unix nanoseconds fit int64 until 2262
	if i, ok := e.traceByID[traceID]; ok {
		tr := &e.Traces[i]
		tr.Error = tr.Error || failed
		if start.Before(tr.Start) {
			tr.Start, tr.Operation, tr.DurationMS = start, sp.Name, sp.DurationMS
		}
		return
	}
	e.traceByID[traceID] = len(e.Traces)
	e.Traces = append(e.Traces, MapTrace{TraceID: traceID, Operation: sp.Name, Start: start, DurationMS: sp.DurationMS, Error: failed})
}

// result orders the nodes and edges by id, computes each edge's figures
// and keeps its most recent traces.
func (m *mapBuilder) result(now time.Time, window time.Duration) CallMap {
	out := CallMap{WindowSeconds: window.Seconds(), At: now.UTC(), Nodes: []MapNode{}, Edges: []MapEdge{}}
	for _, n := range m.nodes {
		out.Nodes = append(out.Nodes, n)
	}
	slices.SortFunc(out.Nodes, func(a, b MapNode) int { return cmp.Compare(a.ID, b.ID) })
	for _, e := range m.edges {
		e.RatePerSec = float64(e.Count) / window.Seconds()
		e.ErrorRate = float64(e.Errors) / float64(e.Count)
		e.P99MS = percentile(e.durations, 0.99)
		e.Operations = topOperations(e.operations, 5)
		slices.SortFunc(e.Traces, func(a, b MapTrace) int {
			return cmp.Or(b.Start.Compare(a.Start), cmp.Compare(a.TraceID, b.TraceID))
		})
		e.Traces = e.Traces[:min(len(e.Traces), mapTracesPerEdge)]
		out.Edges = append(out.Edges, *e)
	}
	slices.SortFunc(out.Edges, func(a, b MapEdge) int { return cmp.Or(cmp.Compare(a.From, b.From), cmp.Compare(a.To, b.To)) })
	return out
}

// percentile returns the nearest-rank q-quantile of values (which it sorts).
func percentile(values []float64, q float64) float64 {
	if len(values) == 0 {
		return 0
	}
	slices.Sort(values)
	rank := int(math.Ceil(q * float64(len(values))))
	return values[max(rank, 1)-1]
}

func topOperations(counts map[string]int, n int) []string {
	ops := make([]string, 0, len(counts))
	for op := range counts {
		ops = append(ops, op)
	}
	slices.SortFunc(ops, func(a, b string) int { return cmp.Or(cmp.Compare(counts[b], counts[a]), cmp.Compare(a, b)) })
	return ops[:min(len(ops), n)]
}

// serveMap answers GET /api/map?window=60s.
func (c *Console) serveMap(w http.ResponseWriter, r *http.Request) {
	window := DefaultMapWindow
	if v := r.URL.Query().Get("window"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second || d > MaxMapWindow {
			writeProblem(w, http.StatusBadRequest, fmt.Sprintf("window %q: want a duration from 1s to %s, such as 60s", v, MaxMapWindow))
			return
		}
		window = d
	}
	known := make([]string, 0, len(c.opts.Services))
	for _, s := range c.opts.Services {
		known = append(known, s.Name)
	}
	writeJSON(w, http.StatusOK, c.traces.Map(c.now(), window, known))
}
