package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"
)

// loadProgress prints a progress line every second: on a terminal it
// rewrites one line in place, elsewhere (CI logs, a pipe) it appends plain
// lines.
type loadProgress struct {
	w        io.Writer
	tty      bool
	duration time.Duration
	planned  int
	done     chan struct{}
}

func newLoadProgress(w io.Writer, duration time.Duration, planned int) *loadProgress {
	return &loadProgress{w: w, tty: loadIsTerminal(w), duration: duration, planned: planned, done: make(chan struct{})}
}

// loadIsTerminal reports whether w is a character device.
func loadIsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// run prints until ctx ends.
func (p *loadProgress) run(ctx context.Context, rec *loadRecorder) {
	defer close(p.done)
	start := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	printed := false
	for {
		select {
		case <-ctx.Done():
			if printed && p.tty {
				fmt.Fprintln(p.w)
			}
			return
		case now := <-tick.C:
			p.print(loadProgressLine(now.Sub(start), p.duration, p.planned, rec.tick()))
			printed = true
		}
	}
}

func (p *loadProgress) print(line string) {
	if p.tty {
		fmt.Fprintf(p.w, "\r\x1b[K%s", line)
		return
	}
	fmt.Fprintln(p.w, line)
}

// wait returns once run has finished its last line, when it was started.
func (p *loadProgress) wait(started bool) {
	if started {
		<-p.done
	}
}

// loadProgressLine renders one progress line.
func loadProgressLine(elapsed, duration time.Duration, planned int, t loadTick) string {
	p99 := "-"
	if t.WindowCount > 0 {
		p99 = loadFormatMS(loadDurMS(t.WindowP99)) + "ms"
	}
	return fmt.Sprintf("load %4ds/%ds  sent %d/%d  done %d  in flight %d  errors %d  p99 (last 1s) %s",
		int(elapsed.Round(time.Second)/time.Second), int(duration.Round(time.Second)/time.Second),
		t.Sent, planned, t.Done, t.Sent-t.Done, t.Errors, p99)
}
