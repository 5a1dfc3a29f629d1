package devconsole

import (
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// tid makes a trace id from n; sid a span id.
func tid(n int) string { return fmt.Sprintf("%032x", n) }
func sid(n int) string { return fmt.Sprintf("%016x", n) }

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

func span(trace, id, parent int, service string, start uint64) Span {
	sp := Span{
		TraceID: tid(trace), SpanID: sid(id), Service: service, Name: fmt.Sprintf("%s-%d", service, id),
		StartUnixNano: start, EndUnixNano: start + 1_000_000, Status: SpanStatus{Code: statusUnset},
	}
	if parent != 0 {
		sp.ParentSpanID = sid(parent)
	}
	return sp
}

func TestTraceStoreEvictsWholeOldestTraces(t *testing.T) {
	s := NewTraceStore(3, 5, 0)
	s.Add([]Span{span(1, 1, 0, "a", 10), span(1, 2, 1, "b", 11)})
	s.Add([]Span{span(2, 3, 0, "a", 20), span(2, 4, 3, "a", 21)})
	s.Add([]Span{span(3, 5, 0, "a", 30)})
	traces, spans := s.Len()
	require.Equal(t, 3, traces)
	require.Equal(t, 5, spans)

	// A late span of trace 1, the oldest, at the span bound: the next oldest
	// goes, never the trace the span belongs to.
	assert.Zero(t, s.Add([]Span{span(1, 6, 1, "c", 12)}))
	got, ok := s.Get(tid(1))
	require.True(t, ok, "the trace a span joins is not evicted to make room for it")
	assert.Len(t, got, 3)
	_, ok = s.Get(tid(2))
	assert.False(t, ok, "the oldest other trace is evicted whole")
	traces, spans = s.Len()
	assert.Equal(t, 2, traces)
	assert.Equal(t, 4, spans)

	// The late span did not make trace 1 young: it is the next to go.
	s.Add([]Span{span(4, 7, 0, "a", 40)})
	_, ok = s.Get(tid(1))
	assert.True(t, ok, "3 traces, 5 spans: within the bounds")
	s.Add([]Span{span(5, 8, 0, "a", 50)})
	_, ok = s.Get(tid(1))
	assert.False(t, ok)
	traces, spans = s.Len()
	assert.Equal(t, 3, traces, "the trace bound holds")
	assert.Equal(t, 3, spans)
	for _, n := range []int{3, 4, 5} {
		_, ok := s.Get(tid(n))
		assert.True(t, ok, "trace %d is among the newest", n)
	}
}

func TestTraceStoreKeepsTheOldestTraceItAddsTo(t *testing.T) {
	s := NewTraceStore(2, 100, 0)
	s.Add([]Span{span(1, 1, 0, "a", 10)})
	s.Add([]Span{span(2, 2, 0, "a", 20)})
	// At the trace bound, late spans of trace 1 neither evict it nor start a
	// partial trace in its place.
	s.Add([]Span{span(1, 3, 1, "a", 11), span(1, 4, 1, "a", 12)})
	got, ok := s.Get(tid(1))
	require.True(t, ok)
	assert.Len(t, got, 3)
	_, ok = s.Get(tid(2))
	assert.True(t, ok, "no bound was passed: nothing is evicted")

	// The byte bound, with trace 1 the oldest: a span of it evicts trace 2.
	late := span(1, 5, 1, "a", 13)
	size := late.size()
	b := NewTraceStore(100, 100, 2*traceOverhead+3*size+size/2)
	b.Add([]Span{span(1, 1, 0, "a", 10), span(1, 3, 1, "a", 11)})
	b.Add([]Span{span(2, 2, 0, "a", 20)})
	assert.Zero(t, b.Add([]Span{late}))
	got, ok = b.Get(tid(1))
	require.True(t, ok)
	assert.Len(t, got, 3)
	_, ok = b.Get(tid(2))
	assert.False(t, ok)
	assert.LessOrEqual(t, b.Bytes(), 2*traceOverhead+3*size+size/2)
	want := int64(traceOverhead)
	for i := range got {
		want += got[i].size()
	}
	assert.Equal(t, want, b.Bytes(), "the accounting follows evictions")
}

func TestTraceStoreStaysWithinItsByteBound(t *testing.T) {
	const budget = 64 << 10
	s := NewTraceStore(0, 0, budget)
	big := strings.Repeat("x", 10*MaxTextBytes)
	for n := 1; n <= 200; n++ {
		export := &tracepb.Span{
			TraceId: mustHex(t, tid(n)), SpanId: mustHex(t, sid(n)), Name: "work",
			Attributes: []*commonpb.KeyValue{
				{Key: "big", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: big}}},
				{Key: "small", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "s"}}},
			},
			Status: &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: big},
		}
		assert.Zero(t, s.Add([]Span{convertSpan("svc", export)}))
		assert.LessOrEqual(t, s.Bytes(), int64(budget), "after span %d", n)
	}
	traces, spans := s.Len()
	assert.Equal(t, traces, spans, "one span a trace")
	assert.Greater(t, traces, 1, "several truncated spans fit")
	assert.Less(t, traces, 200, "the oldest were evicted")

	// The bytes accounted are about what the spans hold: truncated, a span
	// is about 8 KiB here.
	list := s.List("", 1000)
	got, ok := s.Get(list[0].TraceID)
	require.True(t, ok)
	sp := got[0]
	assert.Len(t, sp.Attributes["big"], MaxTextBytes+len("…(truncated 36864 bytes)"))
	assert.True(t, strings.HasSuffix(sp.Attributes["big"], "…(truncated 36864 bytes)"), "truncation is visible")
	assert.True(t, strings.HasSuffix(sp.Status.Message, "…(truncated 36864 bytes)"))
	assert.Equal(t, "s", sp.Attributes["small"])
	assert.InDelta(t, float64(traces)*float64(traceOverhead+sp.size()), float64(s.Bytes()), 1)
	assert.Greater(t, sp.size(), int64(2*MaxTextBytes))

	// A span larger than the whole bound on its own is refused, not stored
	// as an empty trace.
	tiny := NewTraceStore(0, 0, 1024)
	huge := span(999, 1, 0, "a", 1)
	huge.Attributes = map[string]string{"k": strings.Repeat("y", 2048)}
	assert.Equal(t, 1, tiny.Add([]Span{huge}))
	traces, _ = tiny.Len()
	assert.Zero(t, traces)
	assert.Zero(t, tiny.Bytes())
}

func TestConvertSpanBoundsWhatOneSpanHolds(t *testing.T) {
	kv := func(k, v string) *commonpb.KeyValue {
		return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
	}
	var attrs []*commonpb.KeyValue
	for i := range MaxSpanAttributes + 30 {
		attrs = append(attrs, kv(fmt.Sprintf("k%03d", i), "v"))
	}
	var events []*tracepb.Span_Event
	for i := range MaxSpanEvents + 5 {
		var eattrs []*commonpb.KeyValue
		for j := range MaxEventAttributes + 2 {
			eattrs = append(eattrs, kv(fmt.Sprintf("e%d", j), "v"))
		}
		events = append(events, &tracepb.Span_Event{Name: fmt.Sprintf("event %d", i), Attributes: eattrs, DroppedAttributesCount: 1})
	}
	// A name of 'é's: two bytes each, so the cut falls inside a character.
	long := "a" + strings.Repeat("é", MaxTextBytes)
	sp := convertSpan("svc", &tracepb.Span{
		TraceId: make([]byte, 16), SpanId: make([]byte, 8), Name: long,
		Attributes: attrs, DroppedAttributesCount: 7, Events: events, DroppedEventsCount: 2,
	})
	assert.Len(t, sp.Attributes, MaxSpanAttributes)
	assert.Contains(t, sp.Attributes, "k000", "the first attributes are kept")
	assert.NotContains(t, sp.Attributes, fmt.Sprintf("k%03d", MaxSpanAttributes))
	assert.Equal(t, 30+7, sp.DroppedAttributes, "dropped here and by the exporter")
	require.Len(t, sp.Events, MaxSpanEvents)
	assert.Equal(t, 5+2, sp.DroppedEvents)
	assert.Len(t, sp.Events[0].Attributes, MaxEventAttributes)
	assert.Equal(t, 2+1, sp.Events[0].DroppedAttributes)

	kept, marker, ok := strings.Cut(sp.Name, "…(truncated ")
	require.True(t, ok, "the name is truncated: %.40q", sp.Name)
	assert.True(t, utf8.ValidString(kept), "cut between characters")
	assert.Equal(t, MaxTextBytes-1, len(kept), "a + whole 'é's, at most MaxTextBytes")
	assert.Equal(t, fmt.Sprintf("%d bytes)", len(long)-len(kept)), marker)
	assert.Equal(t, "short", truncate("short"))
	assert.Equal(t, strings.Repeat("z", MaxTextBytes), truncate(strings.Repeat("z", MaxTextBytes)), "exactly at the bound: whole")
}

func TestTraceStoreIgnoresRepeatedSpansAndCapsOneTrace(t *testing.T) {
	s := NewTraceStore(10, 3, 0)
	assert.Zero(t, s.Add([]Span{span(1, 1, 0, "a", 1), span(1, 1, 0, "a", 1)}), "a retried export is not a rejection")
	assert.Equal(t, 2, s.Add([]Span{span(1, 2, 1, "a", 2), span(1, 3, 1, "a", 3), span(1, 4, 1, "a", 4), span(1, 5, 1, "a", 5)}))
	spans, ok := s.Get(tid(1))
	require.True(t, ok)
	var ids []string
	for _, sp := range spans {
		ids = append(ids, sp.SpanID)
	}
	assert.Equal(t, []string{sid(1), sid(2), sid(3)}, ids, "a trace larger than the bound keeps its first spans")
}

func TestTraceStoreSummaries(t *testing.T) {
	s := NewTraceStore(0, 0, 0)
	// Trace 1: the root arrives after its children, and a child failed.
	s.Add([]Span{span(1, 2, 1, "inventory", 105), span(1, 3, 2, "notification", 110)})
	sum := s.List("", 10)[0]
	assert.Equal(t, "inventory", sum.RootService, "while the root is missing, the span whose parent is missing stands in")
	failed := span(1, 4, 1, "inventory", 120)
	failed.Status = SpanStatus{Code: statusError, Message: "out of stock"}
	s.Add([]Span{span(1, 1, 0, "order", 100), failed})
	// Trace 2: newer, one service.
	s.Add([]Span{span(2, 9, 0, "user", 500)})

	list := s.List("", 10)
	require.Len(t, list, 2)
	assert.Equal(t, tid(2), list[0].TraceID, "newest first")
	got := list[1]
	assert.Equal(t, tid(1), got.TraceID)
	assert.Equal(t, "order", got.RootService)
	assert.Equal(t, "order-1", got.RootName)
	assert.Equal(t, 4, got.SpanCount)
	assert.Equal(t, []string{"inventory", "notification", "order"}, got.Services)
	assert.True(t, got.Error)
	assert.Equal(t, int64(100), got.Start.UnixNano())
	assert.InDelta(t, 1.00002, got.DurationMS, 1e-9, "from the first start to the last end")
	assert.False(t, list[0].Error)

	assert.Len(t, s.List("", 1), 1, "limit")
	only := s.List("notification", 10)
	require.Len(t, only, 1, "filtered by service")
	assert.Equal(t, tid(1), only[0].TraceID)
	assert.Empty(t, s.List("billing", 10))

	spans, _ := s.Get(tid(1))
	var names []string
	for _, sp := range spans {
		names = append(names, sp.Name)
	}
	assert.Equal(t, "order-1,inventory-2,notification-3,inventory-4", strings.Join(names, ","), "spans by start time")
}

func logLine(trace int, msg string) []byte {
	return fmt.Appendf(nil, `{"time":"2026-01-02T03:04:05.123456789+01:00","level":"INFO","msg":%q,"service":"order","trace_id":%q,"span_id":%q}`,
		msg, tid(trace), sid(trace))
}

func TestLogIndexKeepsTraceLinesWithinItsBound(t *testing.T) {
	x := NewLogIndex(3, 0)
	line := logLine
	x.Add("order", []byte(`{"time":"2026-01-02T03:04:05Z","level":"INFO","msg":"serving"}`)) // outside any request
	x.Add("order", []byte("plain text, trace_id nowhere"))
	x.Add("order", []byte(`{"msg":"broken`))
	x.Add("order", line(1, "first"))
	x.Add("order", line(2, "second"))
	x.Add("order", line(1, "third"))
	lines, _ := x.Len()
	assert.Equal(t, 3, lines, "only JSON lines with a trace id are indexed")

	got := x.Get(tid(1))
	require.Len(t, got, 2)
	assert.Equal(t, LogLine{
		Time: "2026-01-02T02:04:05.123456789Z", Service: "order", Level: "INFO", Msg: "first",
		SpanID: sid(1), Line: string(line(1, "first")),
	}, got[0])
	assert.Equal(t, "third", got[1].Msg)

	x.Add("inventory", line(3, "fourth"))
	lines, _ = x.Len()
	assert.Equal(t, 3, lines)
	got = x.Get(tid(1))
	require.Len(t, got, 1, "the oldest line goes first")
	assert.Equal(t, "third", got[0].Msg)
	x.Add("inventory", line(3, "fifth"))
	assert.Empty(t, x.Get(tid(2)))
	assert.Len(t, x.Get(tid(1)), 1)
	x.Add("inventory", line(3, "sixth"))
	assert.Empty(t, x.Get(tid(1)))
	assert.NotNil(t, x.Get(tid(1)), "an unknown trace has an empty list, not null")
	assert.Len(t, x.Get(tid(3)), 3)
	assert.Equal(t, "inventory", x.Get(tid(3))[0].Service)
}

func TestLogIndexStaysWithinItsByteBound(t *testing.T) {
	const budget = 16 << 10
	x := NewLogIndex(1000, budget)
	pad := strings.Repeat("p", 1000)
	for n := range 100 {
		x.Add("order", logLine(n%7, fmt.Sprintf("line %d %s", n, pad)))
		_, size := x.Len()
		assert.LessOrEqual(t, size, int64(budget), "after line %d", n)
	}
	lines, size := x.Len()
	per := int64(len(logLine(0, "line 10 "+pad))) + logLineOverhead
	assert.Equal(t, int(budget/per), lines, "as many of the newest lines as fit")
	assert.InDelta(t, float64(lines)*float64(per), float64(size), float64(lines), "the lines' lengths and overhead")

	// Every line held is one of the newest, in order within its trace.
	held := 0
	for trace := range 7 {
		prev := -1
		for _, l := range x.Get(tid(trace)) {
			var n int
			_, err := fmt.Sscanf(l.Msg, "line %d", &n)
			require.NoError(t, err)
			assert.GreaterOrEqual(t, n, 100-lines, "an old line was kept")
			assert.Greater(t, n, prev)
			prev = n
			held++
		}
	}
	assert.Equal(t, lines, held, "the queue and the traces agree")

	// A line larger than the whole bound is not indexed and evicts nothing.
	x.Add("order", logLine(1, strings.Repeat("q", budget)))
	after, _ := x.Len()
	assert.Equal(t, lines, after)
}
