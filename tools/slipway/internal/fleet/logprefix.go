package fleet

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// MaxLineBytes bounds how much of a line without a newline is buffered
// before it is written out anyway.
const MaxLineBytes = 64 << 10

// ANSI colours for prefixes, picked per service so a name keeps its colour.
var prefixColors = colorsFor(workspace.Known)

// colorsFor gives the first four services their colours of old, and later
// registered ones the palette in registry order; an unknown name is blue.
func colorsFor(svcs []workspace.Service) map[string]string {
	m := map[string]string{
		"user":         "36", // cyan
		"order":        "35", // magenta
		"inventory":    "32", // green
		"notification": "33", // yellow
		"slipway":      "1",  // bold
	}
	palette := []string{"96", "95", "92", "93", "91", "94"} // bright cyan, magenta, green, yellow, red, blue
	i := 0
	for _, s := range svcs {
		if _, ok := m[s.Name]; !ok {
			m[s.Name] = palette[i%len(palette)]
			i++
		}
	}
	return m
}

// Console is the one writer that child output and slipway's own messages
// share. It writes whole lines under a lock, so lines of concurrent children
// never interleave, and pads every prefix to the same width.
type Console struct {
	mu       sync.Mutex
	w        io.Writer
	color    bool
	width    int
	observer atomic.Pointer[func(name string, line []byte)]
}

// NewConsole writes to w with each line prefixed by its process name, padded
// to the longest of names (coloured when color is set).
func NewConsole(w io.Writer, color bool, names ...string) *Console {
	c := &Console{w: w, color: color, width: len("slipway")}
	for _, n := range names {
		c.width = max(c.width, len(n))
	}
	return c
}

// prefix renders "name  | " padded to the console width, coloured when on.
func (c *Console) prefix(name string) string {
	p := fmt.Sprintf("%-*s |", c.width, name)
	if c.color {
		code, ok := prefixColors[name]
		if !ok {
			code = "34"
		}
		p = "\x1b[" + code + "m" + p + "\x1b[0m"
	}
	return p + " "
}

// Line writes one line of name's output.
func (c *Console) Line(name string, line []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b bytes.Buffer
	b.Grow(c.width + 4 + len(line))
	b.WriteString(c.prefix(name))
	b.Write(line)
	b.WriteByte('\n')
	_, _ = c.w.Write(b.Bytes())
}

// ObserveLines has fn called with every line a child writes, besides
// printing it (the dev console indexes log lines by trace). fn must not keep
// line.
func (c *Console) ObserveLines(fn func(name string, line []byte)) { c.observer.Store(&fn) }

// Infof writes one of slipway's own messages, prefixed like a service line.
func (c *Console) Infof(format string, args ...any) {
	for line := range strings.SplitSeq(strings.TrimRight(fmt.Sprintf(format, args...), "\n"), "\n") {
		c.Line("slipway", []byte(line))
	}
}

// Block writes text as is (a table, compiler output) without interleaving.
func (c *Console) Block(text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if text != "" && !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	_, _ = io.WriteString(c.w, text)
}

// linePrefixer is an io.Writer for one stream of one child: it cuts what it
// is given into lines and hands each whole line to the console. A trailing
// partial line waits for its newline, or for Flush when the stream ends.
type linePrefixer struct {
	mu   sync.Mutex
	out  *Console
	name string
	tail *TailBuffer
	buf  []byte
}

func newLinePrefixer(out *Console, name string, tail *TailBuffer) *linePrefixer {
	return &linePrefixer{out: out, name: name, tail: tail}
}

func (l *linePrefixer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	start := 0
	for {
		i := bytes.IndexByte(l.buf[start:], '\n')
		if i < 0 {
			break
		}
		l.emit(l.buf[start : start+i])
		start += i + 1
	}
	for len(l.buf)-start >= MaxLineBytes {
		l.emit(l.buf[start : start+MaxLineBytes])
		start += MaxLineBytes
	}
	l.buf = l.buf[:copy(l.buf, l.buf[start:])]
	return len(p), nil
}

// Flush writes out a pending partial line.
func (l *linePrefixer) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.emit(l.buf)
		l.buf = l.buf[:0]
	}
}

func (l *linePrefixer) emit(line []byte) {
	line = bytes.TrimSuffix(line, []byte("\r"))
	l.out.Line(l.name, line)
	if fn := l.out.observer.Load(); fn != nil {
		(*fn)(l.name, line)
	}
	if l.tail != nil {
		l.tail.Add(string(line))
	}
}

// TailBuffer keeps the last lines a child wrote, to show when it fails.
type TailBuffer struct {
	mu    sync.Mutex
	lines []string
	next  int
	full  bool
}

// NewTailBuffer keeps the last n lines.
func NewTailBuffer(n int) *TailBuffer { return &TailBuffer{lines: make([]string, n)} }

// Add records a line, dropping the oldest once the buffer is full.
func (t *TailBuffer) Add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) == 0 {
		return
	}
	t.lines[t.next] = line
	t.next = (t.next + 1) % len(t.lines)
	if t.next == 0 {
		t.full = true
	}
}

// Lines returns the recorded lines, oldest first.
func (t *TailBuffer) Lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.full {
		return append([]string(nil), t.lines[:t.next]...)
	}
	return append(append([]string(nil), t.lines[t.next:]...), t.lines[:t.next]...)
}

// ColorEnabled decides whether to colour output to w: mode "always" or
// "never" wins; "auto" colours only a terminal, and not when NO_COLOR is set
// (https://no-color.org).
func ColorEnabled(mode string, w io.Writer, getenv func(string) string) bool {
	switch mode {
	case "always":
		return true
	case "never":
		return false
	}
	if getenv("NO_COLOR") != "" || getenv("TERM") == "dumb" {
		return false
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
