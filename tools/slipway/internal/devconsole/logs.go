package devconsole

import (
	"bytes"
	"encoding/json"
	"sync"
	"time"
)

// Default bounds of the log index.
const (
	DefaultMaxLogLines = 50_000
	DefaultMaxLogBytes = 64 << 20
)

// logLineOverhead approximates, in bytes, what the index keeps per line
// besides the line itself: its entry, its trace id (twice: the map key and
// the queue) and its slot in the trace's list.
const logLineOverhead = 160

// LogLine is one log line written inside a trace.
type LogLine struct {
	Time    string `json:"time"` // RFC 3339 with nanoseconds
	Service string `json:"service"`
	Level   string `json:"level"`
	Msg     string `json:"msg"`
	SpanID  string `json:"span_id"`
	Line    string `json:"line"` // the line as the service wrote it
}

// logEntry is a line as the index keeps it: the line once, and what cannot
// be read from it again. Level, message and span id are decoded from the
// line when it is asked for, which is rare, rather than kept twice.
type logEntry struct {
	at      time.Time // the record's time, or when it arrived
	service string
	line    string
}

// queued is a held line in arrival order.
type queued struct {
	traceID string
	size    int64
}

// LogIndex keeps the most recent log lines that carry a trace id, by trace
// id, so a trace can be shown with what its services logged. It is bounded
// in lines and in approximate bytes (each line's length plus
// logLineOverhead) and forgets the oldest lines first.
type LogIndex struct {
	maxLines int
	maxBytes int64
	now      func() time.Time

	mu      sync.Mutex
	byTrace map[string][]logEntry
	queue   []queued // a ring of maxLines slots, oldest at head
	head, n int
	bytes   int64
}

// NewLogIndex returns an empty index of at most maxLines lines and maxBytes
// bytes; zero or less takes the default.
func NewLogIndex(maxLines int, maxBytes int64) *LogIndex {
	if maxLines <= 0 {
		maxLines = DefaultMaxLogLines
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxLogBytes
	}
	return &LogIndex{
		maxLines: maxLines, maxBytes: maxBytes, now: time.Now,
		byTrace: map[string][]logEntry{}, queue: make([]queued, maxLines),
	}
}

// traceIDKey is how the services' JSON logs name the trace (platform/telemetry).
var traceIDKey = []byte(`"trace_id"`)

// logRecord is what the index reads of a JSON log record.
type logRecord struct {
	Time    string `json:"time"`
	Level   string `json:"level"`
	Msg     string `json:"msg"`
	TraceID string `json:"trace_id"`
	SpanID  string `json:"span_id"`
}

// Add indexes one line that service wrote, if it is a JSON log record with a
// trace id; other lines are ignored, and so is a line larger than the byte
// bound. line is not retained.
func (x *LogIndex) Add(service string, line []byte) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] != '{' || !bytes.Contains(line, traceIDKey) {
		return // the common case for lines outside requests: no decoding
	}
	var rec struct {
		Time    string `json:"time"`
		TraceID string `json:"trace_id"`
	}
	if err := json.Unmarshal(line, &rec); err != nil || rec.TraceID == "" {
		return
	}
	size := int64(len(line)) + logLineOverhead
	if size > x.maxBytes {
		return
	}
	at, err := time.Parse(time.RFC3339Nano, rec.Time)
	if err != nil {
		at = x.now()
	}
	entry := logEntry{at: at.UTC(), service: service, line: string(line)}

	x.mu.Lock()
	defer x.mu.Unlock()
	for x.n == x.maxLines || x.bytes+size > x.maxBytes {
		x.forgetOldest()
	}
	x.queue[(x.head+x.n)%x.maxLines] = queued{traceID: rec.TraceID, size: size}
	x.n++
	x.bytes += size
	x.byTrace[rec.TraceID] = append(x.byTrace[rec.TraceID], entry)
}

// forgetOldest drops the oldest line held, which is the oldest of its trace.
func (x *LogIndex) forgetOldest() {
	q := x.queue[x.head]
	x.queue[x.head] = queued{}
	x.head = (x.head + 1) % x.maxLines
	x.n--
	x.bytes -= q.size
	lines := x.byTrace[q.traceID]
	if len(lines) <= 1 {
		delete(x.byTrace, q.traceID)
		return
	}
	lines[0] = logEntry{} // let the line go before append copies the rest
	x.byTrace[q.traceID] = lines[1:]
}

// Get returns the lines of traceID in the order they were written; never nil.
func (x *LogIndex) Get(traceID string) []LogLine {
	x.mu.Lock()
	entries := append([]logEntry(nil), x.byTrace[traceID]...)
	x.mu.Unlock()
	out := make([]LogLine, 0, len(entries))
	for _, e := range entries {
		var rec logRecord
		_ = json.Unmarshal([]byte(e.line), &rec) // it was decoded once already
		out = append(out, LogLine{
			Time:    e.at.Format(time.RFC3339Nano),
			Service: e.service,
			Level:   rec.Level,
			Msg:     rec.Msg,
			SpanID:  rec.SpanID,
			Line:    e.line,
		})
	}
	return out
}

// Len returns how many lines the index holds and their approximate size.
func (x *LogIndex) Len() (lines int, size int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.n, x.bytes
}
