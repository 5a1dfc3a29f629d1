package kafka

import (
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/propagation"
)

// Header names this package writes on dead-lettered records, beside the
// original record's own headers. The reason header has the same name as the
// JetStream consumer's, so one dead-letter tool reads both.
const (
	// HeaderDeadLetterReason says why the consumer gave up on the record.
	HeaderDeadLetterReason = "Slipway-Dead-Letter-Reason"
	// HeaderOriginalTopic, HeaderOriginalPartition and HeaderOriginalOffset
	// say where the dead-lettered record was first written.
	HeaderOriginalTopic     = "Slipway-Original-Topic"
	HeaderOriginalPartition = "Slipway-Original-Partition"
	HeaderOriginalOffset    = "Slipway-Original-Offset"
	// HeaderConsumerGroup names the consumer group that gave up on it: two
	// groups of one topic share its dead-letter topic.
	HeaderConsumerGroup = "Slipway-Consumer-Group"
)

// traceContext is the W3C traceparent/tracestate propagator, as in
// platform/events: baggage belongs to the request, not to the event.
var traceContext = propagation.TraceContext{}

// Header is a record's headers, one value per name. It is a
// propagation.TextMapCarrier, so the trace context is injected into and
// extracted from it directly. Names are case sensitive, as in Kafka; Get
// also accepts another case, since a foreign producer may write Traceparent.
type Header map[string]string

// Get returns the value of key, or "" when it is absent.
func (h Header) Get(key string) string {
	if v, ok := h[key]; ok {
		return v
	}
	for k, v := range h {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

// Set sets key to value.
func (h Header) Set(key, value string) { h[key] = value }

// Keys lists the header names.
func (h Header) Keys() []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	return keys
}

// recordHeaders turns h into Kafka record headers, sorted by name so that a
// record's bytes do not depend on map order.
func recordHeaders(h Header) []kgo.RecordHeader {
	out := make([]kgo.RecordHeader, 0, len(h))
	for k, v := range h {
		out = append(out, kgo.RecordHeader{Key: k, Value: []byte(v)})
	}
	slices.SortFunc(out, func(a, b kgo.RecordHeader) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// headerOf reads a record's headers; of a name repeated, the last value wins.
func headerOf(rs []kgo.RecordHeader) Header {
	h := make(Header, len(rs))
	for _, r := range rs {
		h[r.Key] = string(r.Value)
	}
	return h
}
