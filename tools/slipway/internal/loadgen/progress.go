package loadgen

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"
)

// Progress prints a progress line every second: on a terminal it
// rewrites one line in place, elsewhere (CI logs, a pipe) it appends plain
// lines.
type Progress struct {
	w        io.Writer
	TTY      bool
	duration time.Duration
	planned  int
	done     chan struct{}
}

// NewProgress reports on w a run of planned requests over duration.
func NewProgress(w io.Writer, duration time.Duration, planned int) *Progress {
	return &Progress{w: w, TTY: IsTerminal(w), duration: duration, planned: planned, done: make(chan struct{})}
}

// IsTerminal reports whether w is a character device.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Run prints until ctx ends.
func (p *Progress) Run(ctx context.Context, rec *Recorder) {
	defer close(p.done)
	start := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	printed := false
	for {
		select {
		case <-ctx.Done():
			if printed && p.TTY {
				fmt.Fprintln(p.w)
			}
			return
		case now := <-tick.C:
			p.print(progressLine(now.Sub(start), p.duration, p.planned, rec.tick()))
			printed = true
		}
	}
}

func (p *Progress) print(line string) {
	if p.TTY {
		fmt.Fprintf(p.w, "\r\x1b[K%s", line)
		return
	}
	fmt.Fprintln(p.w, line)
}

// Wait returns once run has finished its last line, when it was started.
func (p *Progress) Wait(started bool) {
	if started {
		<-p.done
	}
}

// progressLine renders one progress line.
func progressLine(elapsed, duration time.Duration, planned int, t tick) string {
	p99 := "-"
	if t.WindowCount > 0 {
		p99 = FormatMS(durMS(t.WindowP99)) + "ms"
	}
	return fmt.Sprintf("load %4ds/%ds  sent %d/%d  done %d  in flight %d  errors %d  p99 (last 1s) %s",
		int(elapsed.Round(time.Second)/time.Second), int(duration.Round(time.Second)/time.Second),
		t.Sent, planned, t.Done, t.Sent-t.Done, t.Errors, p99)
}
