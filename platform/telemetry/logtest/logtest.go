// Package logtest collects what a logger writes while the code under test
// runs its own goroutines, so a test can read the log back: as text, or as
// the JSON records telemetry.NewLogger writes.
package logtest

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// Buffer is an io.Writer that goroutines write to and a test reads from at
// the same time. The zero Buffer is empty and ready to use.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Count is how many times s stands in what was written so far.
func (b *Buffer) Count(s string) int {
	return strings.Count(b.String(), s)
}

// Records decodes every line written so far as a JSON record; a line that
// is not JSON fails the test.
func (b *Buffer) Records(t testing.TB) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(b.String()) {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), "log line %q", line)
		out = append(out, m)
	}
	return out
}

// Messages returns the JSON records whose msg is msg, oldest first. Lines
// that are not JSON (a dependency's own output) are passed over. A line
// may be of any length: a record carrying a long error does not hide the
// records after it.
func (b *Buffer) Messages(msg string) []map[string]any {
	var found []map[string]any
	for text := range strings.Lines(b.String()) {
		var line map[string]any
		if json.Unmarshal([]byte(text), &line) == nil && line["msg"] == msg {
			found = append(found, line)
		}
	}
	return found
}

// Find returns the first JSON record whose msg is msg, and whether there is
// one.
func (b *Buffer) Find(msg string) (map[string]any, bool) {
	lines := b.Messages(msg)
	if len(lines) == 0 {
		return nil, false
	}
	return lines[0], true
}
