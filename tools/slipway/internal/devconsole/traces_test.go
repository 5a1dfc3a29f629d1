package devconsole

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tid makes a trace id from n; sid a span id.
func tid(n int) string { return fmt.Sprintf("%032x", n) }
func sid(n int) string { return fmt.Sprintf("%016x", n) }

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
	s := NewTraceStore(3, 5)
	s.Add([]Span{span(1, 1, 0, "a", 10), span(1, 2, 1, "b", 11)})
	s.Add([]Span{span(2, 3, 0, "a", 20), span(2, 4, 3, "a", 21)})
	s.Add([]Span{span(3, 5, 0, "a", 30)})
	traces, spans := s.Len()
	require.Equal(t, 3, traces)
	require.Equal(t, 5, spans)

	// A late span of trace 1 does not make it young: a sixth span evicts it.
	s.Add([]Span{span(1, 6, 1, "c", 12)})
	_, ok := s.Get(tid(1))
	assert.False(t, ok, "the oldest trace is evicted whole when the span bound is passed")
	traces, spans = s.Len()
	assert.Equal(t, 2, traces)
	assert.Equal(t, 3, spans)

	s.Add([]Span{span(4, 7, 0, "a", 40), span(5, 8, 0, "a", 50)})
	traces, _ = s.Len()
	assert.Equal(t, 3, traces, "the trace bound holds")
	_, ok = s.Get(tid(2))
	assert.False(t, ok)
	for _, n := range []int{3, 4, 5} {
		_, ok := s.Get(tid(n))
		assert.True(t, ok, "trace %d is among the newest", n)
	}
}

func TestTraceStoreIgnoresRepeatedSpansAndCapsOneTrace(t *testing.T) {
	s := NewTraceStore(10, 3)
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
	s := NewTraceStore(0, 0)
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

func TestLogIndexKeepsTraceLinesWithinItsBound(t *testing.T) {
	x := NewLogIndex(3)
	line := func(trace int, msg string) []byte {
		return fmt.Appendf(nil, `{"time":"2026-01-02T03:04:05.123456789+01:00","level":"INFO","msg":%q,"service":"order","trace_id":%q,"span_id":%q}`,
			msg, tid(trace), sid(trace))
	}
	x.Add("order", []byte(`{"time":"2026-01-02T03:04:05Z","level":"INFO","msg":"serving"}`)) // outside any request
	x.Add("order", []byte("plain text, trace_id nowhere"))
	x.Add("order", []byte(`{"msg":"broken`))
	x.Add("order", line(1, "first"))
	x.Add("order", line(2, "second"))
	x.Add("order", line(1, "third"))
	assert.Equal(t, 3, x.Len(), "only JSON lines with a trace id are indexed")

	got := x.Get(tid(1))
	require.Len(t, got, 2)
	assert.Equal(t, LogLine{
		Time: "2026-01-02T02:04:05.123456789Z", Service: "order", Level: "INFO", Msg: "first",
		SpanID: sid(1), Line: string(line(1, "first")),
	}, got[0])
	assert.Equal(t, "third", got[1].Msg)

	x.Add("inventory", line(3, "fourth"))
	assert.Equal(t, 3, x.Len())
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
