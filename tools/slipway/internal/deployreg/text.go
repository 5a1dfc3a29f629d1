package deployreg

import (
	"fmt"
	"regexp"
	"strings"
)

// doc is one deploy file being edited as text: every change is an
// insertion at an anchor, so comments, order and formatting elsewhere stay
// byte for byte.
type doc struct {
	path string
	text string
}

// anchorError names the file and the anchor that was not found.
func (d *doc) anchorError(anchor string) error {
	return fmt.Errorf("%s: anchor %q not found; was the file restructured? register the service by hand there", d.path, anchor)
}

// lineStarts returns the offset of every line's first byte.
func (d *doc) lineStarts() []int {
	starts := []int{0}
	for i := 0; i < len(d.text); i++ {
		if d.text[i] == '\n' && i+1 < len(d.text) {
			starts = append(starts, i+1)
		}
	}
	return starts
}

// line returns line i without its newline, and the offset just past it
// (past the newline when there is one).
func (d *doc) line(starts []int, i int) (string, int) {
	end := len(d.text)
	if i+1 < len(starts) {
		end = starts[i+1]
	}
	return strings.TrimSuffix(d.text[starts[i]:end], "\n"), end
}

// insertAt inserts s at byte offset off.
func (d *doc) insertAt(off int, s string) {
	d.text = d.text[:off] + s + d.text[off:]
}

// findLine returns the index of the first line equal to each anchor in
// turn, each searched after the previous one: ("  - job_name: slipway",
// "      - targets:") finds the targets of that job only.
func (d *doc) findLine(anchors ...string) (int, error) {
	starts := d.lineStarts()
	i := -1
	for _, a := range anchors {
		found := false
		for i++; i < len(starts); i++ {
			if l, _ := d.line(starts, i); l == a {
				found = true
				break
			}
		}
		if !found {
			return 0, d.anchorError(a)
		}
	}
	return i, nil
}

func indent(l string) int { return len(l) - len(strings.TrimLeft(l, " ")) }

// appendToBlock inserts s after the last line of the YAML block that the
// last anchor line opens: the lines indented deeper than it, blank lines
// inside included, trailing ones not.
func (d *doc) appendToBlock(s string, anchors ...string) error {
	i, err := d.findLine(anchors...)
	if err != nil {
		return err
	}
	starts := d.lineStarts()
	head, end := d.line(starts, i)
	depth := indent(head)
	for j := i + 1; j < len(starts); j++ {
		l, e := d.line(starts, j)
		if strings.TrimSpace(l) == "" {
			continue
		}
		if indent(l) <= depth {
			break
		}
		end = e
	}
	if end == len(d.text) && !strings.HasSuffix(d.text, "\n") {
		s = "\n" + strings.TrimSuffix(s, "\n")
	}
	d.insertAt(end, s)
	return nil
}

// afterLastLine inserts s after the last line that first matches and the
// lines right after it that cont matches (a wrapped entry); cont nil takes
// none.
func (d *doc) afterLastLine(s string, first, cont *regexp.Regexp) error {
	starts := d.lineStarts()
	last := -1
	for i := range starts {
		if l, _ := d.line(starts, i); first.MatchString(l) {
			last = i
		}
	}
	if last < 0 {
		return d.anchorError(first.String())
	}
	_, end := d.line(starts, last)
	for j := last + 1; cont != nil && j < len(starts); j++ {
		l, e := d.line(starts, j)
		if !cont.MatchString(l) {
			break
		}
		end = e
	}
	d.insertAt(end, s)
	return nil
}

// afterRun inserts s after the run of lines starting with prefix that
// follows the line equal to anchor (a Markdown table after its header).
func (d *doc) afterRun(s, anchor, prefix string) error {
	i, err := d.findLine(anchor)
	if err != nil {
		return err
	}
	starts := d.lineStarts()
	_, end := d.line(starts, i)
	for j := i + 1; j < len(starts); j++ {
		l, e := d.line(starts, j)
		if !strings.HasPrefix(l, prefix) {
			break
		}
		end = e
	}
	d.insertAt(end, s)
	return nil
}

// prefix matches the lines that start with s.
func prefix(s string) *regexp.Regexp { return regexp.MustCompile("^" + regexp.QuoteMeta(s)) }

// afterLastParagraph inserts s after the paragraph (lines up to the next
// blank one) that the last line starting with prefix begins.
func (d *doc) afterLastParagraph(s, prefix string) error {
	starts := d.lineStarts()
	last := -1
	for i := range starts {
		if l, _ := d.line(starts, i); strings.HasPrefix(l, prefix) {
			last = i
		}
	}
	if last < 0 {
		return d.anchorError(prefix)
	}
	_, end := d.line(starts, last)
	for j := last + 1; j < len(starts); j++ {
		l, e := d.line(starts, j)
		if strings.TrimSpace(l) == "" {
			break
		}
		end = e
	}
	d.insertAt(end, s)
	return nil
}

// endOfLine appends s to the end of the only line that starts with prefix.
func (d *doc) endOfLine(s, prefix string) error {
	return d.beforeInLine(s, prefix, "")
}

// beforeInLine inserts s before the first occurrence of marker in the one
// line that contains anchor ("" marker: at the line's end). The anchor must
// be on exactly one line.
func (d *doc) beforeInLine(s, anchor, marker string) error {
	starts := d.lineStarts()
	at := -1
	for i := range starts {
		l, _ := d.line(starts, i)
		if strings.Contains(l, anchor) {
			if at >= 0 {
				return fmt.Errorf("%s: anchor %q is on more than one line", d.path, anchor)
			}
			at = i
		}
	}
	if at < 0 {
		return d.anchorError(anchor)
	}
	l, _ := d.line(starts, at)
	pos := len(l)
	if marker != "" {
		k := strings.Index(l[strings.Index(l, anchor):], marker)
		if k < 0 {
			return d.anchorError(anchor + "..." + marker)
		}
		pos = strings.Index(l, anchor) + k
	}
	d.insertAt(starts[at]+pos, s)
	return nil
}

// appendDocument adds s at the end of the file, after its last byte.
func (d *doc) appendDocument(s string) {
	if d.text != "" && !strings.HasSuffix(d.text, "\n") {
		d.text += "\n"
	}
	d.text += s
}
