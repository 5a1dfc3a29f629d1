package devconsole

import (
	"cmp"
	"slices"
	"sync"
	"time"
)

// Span is one span as the console shows it: ids in lowercase hex, times as
// decimal strings of Unix nanoseconds (a float64 in JavaScript would lose
// them), attribute values rendered as text. Texts longer than MaxTextBytes
// end in a "…(truncated N bytes)" marker; attributes and events past their
// bounds are counted in the dropped counts (with what the exporter dropped).
type Span struct {
	TraceID           string            `json:"-"`
	SpanID            string            `json:"span_id"`
	ParentSpanID      string            `json:"parent_span_id"`
	Service           string            `json:"service"`
	Name              string            `json:"name"`
	Kind              string            `json:"kind"` // SERVER, CLIENT, INTERNAL, PRODUCER or CONSUMER
	StartUnixNano     uint64            `json:"start_unix_nano,string"`
	EndUnixNano       uint64            `json:"end_unix_nano,string"`
	DurationMS        float64           `json:"duration_ms"`
	Status            SpanStatus        `json:"status"`
	Attributes        map[string]string `json:"attributes"`
	DroppedAttributes int               `json:"dropped_attributes_count,omitempty"`
	Events            []SpanEvent       `json:"events,omitempty"`
	DroppedEvents     int               `json:"dropped_events_count,omitempty"`
}

// SpanStatus is a span's outcome: OK, ERROR or UNSET, with a message for ERROR.
type SpanStatus struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// SpanEvent is a timestamped annotation of a span, such as a recorded exception.
type SpanEvent struct {
	Time              string            `json:"time"` // RFC 3339 with nanoseconds
	Name              string            `json:"name"`
	Attributes        map[string]string `json:"attributes,omitempty"`
	DroppedAttributes int               `json:"dropped_attributes_count,omitempty"`
}

// Approximate costs in bytes, besides the text, of what the store keeps:
// a Span with its entry in its trace's id set, one attribute in a map, an
// event, a trace with its map entries. They only need to be in proportion:
// the byte bound is a bound on memory, not an exact measure of it.
const (
	spanOverhead      = 320
	attributeOverhead = 48
	eventOverhead     = 96
	traceOverhead     = 256
)

// size is the approximate number of bytes sp occupies in the store.
func (sp *Span) size() int64 {
	n := spanOverhead + len(sp.TraceID) + len(sp.SpanID) + len(sp.ParentSpanID) + len(sp.Service) +
		len(sp.Name) + len(sp.Kind) + len(sp.Status.Code) + len(sp.Status.Message) + attributesSize(sp.Attributes)
	for i := range sp.Events {
		e := &sp.Events[i]
		n += eventOverhead + len(e.Time) + len(e.Name) + attributesSize(e.Attributes)
	}
	return int64(n)
}

func attributesSize(attrs map[string]string) int {
	n := 0
	for k, v := range attrs {
		n += attributeOverhead + len(k) + len(v)
	}
	return n
}

// TraceSummary is one row of the trace list.
type TraceSummary struct {
	TraceID     string    `json:"trace_id"`
	RootService string    `json:"root_service"`
	RootName    string    `json:"root_name"`
	Start       time.Time `json:"start"`
	DurationMS  float64   `json:"duration_ms"`
	SpanCount   int       `json:"span_count"`
	Services    []string  `json:"services"`
	Error       bool      `json:"error"`
}

// Default bounds of a TraceStore.
const (
	DefaultMaxTraces = 2000
	DefaultMaxSpans  = 100_000
	DefaultMaxBytes  = 256 << 20
)

// TraceStore keeps the most recent traces in memory, assembled from spans
// that arrive in any order and from any service. It is bounded three times,
// by a number of traces, a number of spans and a number of bytes (the
// approximate size of the spans, see Span.size): when a bound would be
// exceeded it evicts whole traces, the one whose first span arrived earliest
// first, so a trace is never shown with half its spans missing because of
// the bound. The trace a span joins is never evicted to make room for it;
// only a single trace that would exceed the span or byte bound on its own
// keeps its first spans and refuses the rest.
type TraceStore struct {
	maxTraces, maxSpans int
	maxBytes            int64

	mu      sync.RWMutex
	traces  map[string]*storedTrace
	arrival []*storedTrace // oldest first, from head on; each stored trace once
	head    int
	spans   int
	bytes   int64
}

type storedTrace struct {
	id      string
	spans   []Span
	spanIDs map[string]struct{}
	bytes   int64         // traceOverhead and the size of its spans
	summary *TraceSummary // nil when spans changed since it was computed
}

// NewTraceStore returns an empty store with the given bounds; a bound of
// zero or less takes the default.
func NewTraceStore(maxTraces, maxSpans int, maxBytes int64) *TraceStore {
	if maxTraces <= 0 {
		maxTraces = DefaultMaxTraces
	}
	if maxSpans <= 0 {
		maxSpans = DefaultMaxSpans
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	return &TraceStore{maxTraces: maxTraces, maxSpans: maxSpans, maxBytes: maxBytes, traces: map[string]*storedTrace{}}
}

// Add stores spans, joining each to its trace, and evicts the oldest other
// traces while a bound would be exceeded. A span already stored (an
// exporter's retry) is ignored. It returns how many spans were refused
// because their trace alone would pass the span or the byte bound.
func (s *TraceStore) Add(spans []Span) (rejected int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range spans {
		sp := &spans[i]
		t := s.traces[sp.TraceID]
		if t != nil {
			if _, dup := t.spanIDs[sp.SpanID]; dup {
				continue
			}
		}
		size := sp.size()
		traceSpans, traceBytes := 1, traceOverhead+size
		if t != nil {
			traceSpans, traceBytes = len(t.spans)+1, t.bytes+size
		}
		if traceSpans > s.maxSpans || traceBytes > s.maxBytes {
			rejected++
			continue
		}
		if t == nil {
			t = &storedTrace{id: sp.TraceID, spanIDs: map[string]struct{}{}, bytes: traceOverhead}
			s.traces[sp.TraceID] = t
			s.arrival = append(s.arrival, t)
			s.bytes += traceOverhead
		}
		// t fits alone, so evicting the others makes room.
		for len(s.traces) > s.maxTraces || s.spans+1 > s.maxSpans || s.bytes+size > s.maxBytes {
			if !s.evictOldest(t) {
				break
			}
		}
		t.spans = append(t.spans, *sp)
		t.spanIDs[sp.SpanID] = struct{}{}
		t.bytes += size
		t.summary = nil
		s.spans++
		s.bytes += size
	}
	return rejected
}

// evictOldest removes the trace that arrived first other than keep, and
// reports whether there was one. keep stays where it is in the queue.
func (s *TraceStore) evictOldest(keep *storedTrace) bool {
	if s.head >= len(s.arrival) {
		return false
	}
	victim := s.arrival[s.head]
	if victim == keep {
		if s.head+1 >= len(s.arrival) {
			return false
		}
		victim = s.arrival[s.head+1]
		s.arrival[s.head+1] = keep // still the oldest
	}
	s.arrival[s.head] = nil
	s.head++
	delete(s.traces, victim.id)
	s.spans -= len(victim.spans)
	s.bytes -= victim.bytes
	// Reuse the queue's backing array once most of it is behind the head.
	if s.head > 1024 && s.head*2 > len(s.arrival) {
		s.arrival = append(s.arrival[:0], s.arrival[s.head:]...)
		clear(s.arrival[len(s.arrival):cap(s.arrival)])
		s.head = 0
	}
	return true
}

// Bytes returns the approximate size of the stored traces, which the byte
// bound limits.
func (s *TraceStore) Bytes() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.bytes
}

// Len returns how many traces and spans the store holds.
func (s *TraceStore) Len() (traces, spans int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.traces), s.spans
}

// List returns the summaries of the stored traces, newest start first, only
// those with a span of service when it is not empty, at most limit of them.
func (s *TraceStore) List(service string, limit int) []TraceSummary {
	s.mu.Lock() // summaries are cached on the traces
	out := make([]TraceSummary, 0, min(limit, len(s.traces)))
	var all []TraceSummary
	for _, t := range s.traces {
		sum := t.summarize()
		if service != "" && !slices.Contains(sum.Services, service) {
			continue
		}
		all = append(all, sum)
	}
	s.mu.Unlock()
	slices.SortFunc(all, func(a, b TraceSummary) int {
		if c := b.Start.Compare(a.Start); c != 0 {
			return c
		}
		return cmp.Compare(a.TraceID, b.TraceID)
	})
	return append(out, all[:min(limit, len(all))]...)
}

// Get returns the spans of a trace, ordered by start time, and whether the
// store holds it.
func (s *TraceStore) Get(traceID string) ([]Span, bool) {
	s.mu.RLock()
	t, ok := s.traces[traceID]
	var spans []Span
	if ok {
		spans = slices.Clone(t.spans)
	}
	s.mu.RUnlock()
	slices.SortStableFunc(spans, func(a, b Span) int { return cmp.Compare(a.StartUnixNano, b.StartUnixNano) })
	return spans, ok
}

// summarize computes (or returns the cached) summary of t. The root is the
// earliest span without a parent; while it has not arrived, the earliest span
// whose parent is not stored stands in, and failing that the earliest span.
func (t *storedTrace) summarize() TraceSummary {
	if t.summary != nil {
		return *t.summary
	}
	sum := TraceSummary{TraceID: t.id, SpanCount: len(t.spans), Services: []string{}}
	var root *Span
	var start, end uint64
	for i := range t.spans {
		sp := &t.spans[i]
		if start == 0 || sp.StartUnixNano < start {
			start = sp.StartUnixNano
		}
		end = max(end, sp.EndUnixNano)
		if sp.Status.Code == statusError {
			sum.Error = true
		}
		if !slices.Contains(sum.Services, sp.Service) {
			sum.Services = append(sum.Services, sp.Service)
		}
		if root == nil || t.rootRank(sp) < t.rootRank(root) ||
			(t.rootRank(sp) == t.rootRank(root) && sp.StartUnixNano < root.StartUnixNano) {
			root = sp
		}
	}
	slices.Sort(sum.Services)
	if root != nil {
		sum.RootService, sum.RootName = root.Service, root.Name
	}
	sum.Start = time.Unix(0, int64(start)).UTC() //nolint:gosec // Unix nanoseconds fit int64 until 2262
	if end > start {
		sum.DurationMS = float64(end-start) / 1e6
	}
	t.summary = &sum
	return sum
}

// rootRank orders the candidates for a trace's root: 0 for a span without a
// parent, 1 for one whose parent is not stored, 2 for the others.
func (t *storedTrace) rootRank(sp *Span) int {
	if sp.ParentSpanID == "" {
		return 0
	}
	if _, ok := t.spanIDs[sp.ParentSpanID]; !ok {
		return 1
	}
	return 2
}
