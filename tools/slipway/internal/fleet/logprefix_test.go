package fleet

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

func TestLinePrefixer(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		flush  bool
		want   string
	}{
		{name: "one line", writes: []string{"hello\n"}, want: "inventory | hello\n"},
		{name: "several lines in one write", writes: []string{"a\nb\nc\n"}, want: "inventory | a\ninventory | b\ninventory | c\n"},
		{name: "a line split over writes", writes: []string{`{"msg":`, `"ready"}`, "\n"}, want: "inventory | {\"msg\":\"ready\"}\n"},
		{name: "partial line waits for its newline", writes: []string{"done\nhalf"}, want: "inventory | done\n"},
		{name: "partial line is flushed", writes: []string{"done\nhalf"}, flush: true, want: "inventory | done\ninventory | half\n"},
		{name: "flush with nothing pending writes nothing", writes: []string{"x\n"}, flush: true, want: "inventory | x\n"},
		{name: "CRLF endings", writes: []string{"dos\r\n"}, want: "inventory | dos\n"},
		{name: "empty line", writes: []string{"\n"}, want: "inventory | \n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			tail := NewTailBuffer(5)
			lp := newLinePrefixer(NewConsole(&out, false, "user", "inventory"), "inventory", tail)
			for _, w := range tt.writes {
				n, err := lp.Write([]byte(w))
				require.NoError(t, err)
				assert.Equal(t, len(w), n)
			}
			if tt.flush {
				lp.Flush()
			}
			assert.Equal(t, tt.want, out.String())
			assert.Len(t, tail.Lines(), strings.Count(tt.want, "\n"), "the tail holds each emitted line")
		})
	}
}

func TestLinePrefixerPadsToLongestName(t *testing.T) {
	var out bytes.Buffer
	c := NewConsole(&out, false, "user", "notification")
	_, _ = newLinePrefixer(c, "user", nil).Write([]byte("u\n"))
	_, _ = newLinePrefixer(c, "notification", nil).Write([]byte("n\n"))
	c.Infof("msg")
	assert.Equal(t, "user         | u\nnotification | n\nslipway      | msg\n", out.String())
}

func TestLinePrefixerColours(t *testing.T) {
	var out bytes.Buffer
	_, _ = newLinePrefixer(NewConsole(&out, true, "inventory"), "inventory", nil).Write([]byte("x\n"))
	assert.Equal(t, "\x1b[32minventory |\x1b[0m x\n", out.String())
}

func TestLinePrefixerCutsOverlongLines(t *testing.T) {
	var out bytes.Buffer
	lp := newLinePrefixer(NewConsole(&out, false, "user"), "user", nil)
	long := strings.Repeat("x", MaxLineBytes+10)
	_, _ = lp.Write([]byte(long))
	assert.Equal(t, 1, strings.Count(out.String(), "\n"), "the first maxLineBytes are written without a newline")
	lp.Flush()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	require.Len(t, lines, 2)
	assert.Len(t, strings.TrimPrefix(lines[1], "user    | "), 10)
}

func TestTailBufferKeepsLastLines(t *testing.T) {
	tail := NewTailBuffer(3)
	assert.Empty(t, tail.Lines())
	for i := range 5 {
		tail.Add(fmt.Sprint(i))
	}
	assert.Equal(t, []string{"2", "3", "4"}, tail.Lines())
}

func TestColorEnabled(t *testing.T) {
	noEnv := func(string) string { return "" }
	noColor := func(k string) string {
		if k == "NO_COLOR" {
			return "1"
		}
		return ""
	}
	var buf bytes.Buffer
	assert.True(t, ColorEnabled("always", &buf, noColor), "always wins")
	assert.False(t, ColorEnabled("never", &buf, noEnv))
	assert.False(t, ColorEnabled("auto", &buf, noEnv), "a buffer is not a terminal")
}

func TestPrefixColors(t *testing.T) {
	colors := colorsFor([]workspace.Service{
		{Name: "user"}, {Name: "order"}, {Name: "payment"}, {Name: "inventory"}, {Name: "notification"}, {Name: "widgets"},
	})
	for name, want := range map[string]string{"user": "36", "order": "35", "inventory": "32", "notification": "33", "slipway": "1"} {
		assert.Equal(t, want, colors[name], "%s keeps its colour", name)
	}
	assert.Equal(t, "96", colors["payment"], "the first new service takes the palette's first colour")
	assert.Equal(t, "95", colors["widgets"], "the next one the next")
	for _, s := range workspace.Known {
		assert.NotEmpty(t, prefixColors[s.Name], "%s has a colour", s.Name)
	}
}
