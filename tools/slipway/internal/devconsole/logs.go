package devconsole

import (
	"bytes"
	"encoding/json"
	"sync"
	"time"
)

// DefaultMaxLogLines bounds the log index.
const DefaultMaxLogLines = 50_000

// LogLine is one log line written inside a trace.
type LogLine struct {
	Time    string `json:"time"` // RFC 3339 with nanoseconds
	Service string `json:"service"`
	Level   string `json:"level"`
	Msg     string `json:"msg"`
	SpanID  string `json:"span_id"`
	Line    string `json:"line"` // the line as the service wrote it
}

// LogIndex keeps the most recent log lines that carry a trace id, by trace
// id, so a trace can be shown with what its services logged. It holds at
// most a fixed number of lines and forgets the oldest first.
type LogIndex struct {
	max int
	now func() time.Time

	mu      sync.Mutex
	byTrace map[string][]LogLine
	ring    []string // trace id of each held line, in arrival order
	next    int      // where the next line's trace id goes
	full    bool
}

// NewLogIndex returns an empty index of at most maxLines lines; zero or less
// takes the default.
func NewLogIndex(maxLines int) *LogIndex {
	if maxLines <= 0 {
		maxLines = DefaultMaxLogLines
	}
	return &LogIndex{max: maxLines, now: time.Now, byTrace: map[string][]LogLine{}, ring: make([]string, maxLines)}
}

// traceIDKey is how the services' JSON logs name the trace (platform/telemetry).
var traceIDKey = []byte(`"trace_id"`)

// Add indexes one line that service wrote, if it is a JSON log record with a
// trace id; other lines are ignored. line is not retained.
func (x *LogIndex) Add(service string, line []byte) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] != '{' || !bytes.Contains(line, traceIDKey) {
		return // the common case for lines outside requests: no decoding
	}
	var rec struct {
		Time    string `json:"time"`
		Level   string `json:"level"`
		Msg     string `json:"msg"`
		TraceID string `json:"trace_id"`
		SpanID  string `json:"span_id"`
	}
	if err := json.Unmarshal(line, &rec); err != nil || rec.TraceID == "" {
		return
	}
	at, err := time.Parse(time.RFC3339Nano, rec.Time)
	if err != nil {
		at = x.now()
	}
	entry := LogLine{
		Time:    at.UTC().Format(time.RFC3339Nano),
		Service: service,
		Level:   rec.Level,
		Msg:     rec.Msg,
		SpanID:  rec.SpanID,
		Line:    string(line),
	}

	x.mu.Lock()
	defer x.mu.Unlock()
	if x.full {
		x.forget(x.ring[x.next])
	}
	x.ring[x.next] = rec.TraceID
	x.byTrace[rec.TraceID] = append(x.byTrace[rec.TraceID], entry)
	x.next = (x.next + 1) % x.max
	if x.next == 0 {
		x.full = true
	}
}

// forget drops the oldest line of traceID, which is the oldest line held.
func (x *LogIndex) forget(traceID string) {
	lines := x.byTrace[traceID]
	if len(lines) <= 1 {
		delete(x.byTrace, traceID)
		return
	}
	x.byTrace[traceID] = lines[1:]
}

// Get returns the lines of traceID in the order they were written; never nil.
func (x *LogIndex) Get(traceID string) []LogLine {
	x.mu.Lock()
	defer x.mu.Unlock()
	return append([]LogLine{}, x.byTrace[traceID]...)
}

// Len returns how many lines the index holds.
func (x *LogIndex) Len() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.full {
		return x.max
	}
	return x.next
}
