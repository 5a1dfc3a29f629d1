package bench

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/fleet"
	"github.com/slipway-dev/slipway/tools/slipway/internal/grpchealth"
)

// startSample is one start of a service.
type startSample struct {
	took time.Duration // process start to the "serving" line
	self time.Duration // startup_ms the service reported
	idle procMemory    // after idling; zero when not read
}

// startOnce starts bin, waits for its "serving" log line (written right after
// its health turns SERVING), checks the health on the address the line names
// (over TLS with client's certificate when client is set), and stops the
// process. With idle > 0 it first leaves the process SERVING and unused for
// idle and reads its memory.
func startOnce(ctx context.Context, bin string, environ []string, client *tls.Config, log io.Writer, timeout, idle time.Duration) (startSample, error) {
	type servingLine struct {
		at   time.Time
		addr string
		self time.Duration
	}
	serving := make(chan servingLine, 1)
	tail := fleet.NewTailBuffer(fleet.TailLines)
	var once sync.Once
	lines := &lineWriter{fn: func(line []byte) {
		at := time.Now()
		tail.Add(string(line))
		_, _ = log.Write(append(line, '\n'))
		var l struct {
			Msg       string `json:"msg"`
			GRPCAddr  string `json:"grpc_addr"`
			StartupMS int64  `json:"startup_ms"`
		}
		if json.Unmarshal(line, &l) == nil && l.Msg == "serving" && l.GRPCAddr != "" {
			once.Do(func() {
				serving <- servingLine{at: at, addr: l.GRPCAddr, self: time.Duration(l.StartupMS) * time.Millisecond}
			})
		}
	}}
	cmd := exec.Command(bin) //nolint:noctx // stopped with SIGTERM below; a context would SIGKILL it
	cmd.Env = environ
	cmd.Stdout, cmd.Stderr = lines, lines

	start := time.Now()
	p, err := startChild(cmd)
	if err != nil {
		return startSample{}, err
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var s servingLine
	select {
	case s = <-serving:
	case <-p.done:
		return startSample{}, fmt.Errorf("exited before SERVING (%w); last lines:\n%s", p.err, strings.Join(tail.Lines(), "\n"))
	case <-timer.C:
		p.Stop(0)
		return startSample{}, fmt.Errorf("not SERVING within %s; last lines:\n%s", timeout, strings.Join(tail.Lines(), "\n"))
	case <-ctx.Done():
		p.Stop(0)
		return startSample{}, ctx.Err()
	}
	check, cancel := context.WithTimeout(ctx, 5*time.Second)
	status, err := grpchealth.Check(check, s.addr, "", client)
	cancel()
	var mem procMemory
	if err == nil && status == "SERVING" && idle > 0 {
		select {
		case <-time.After(idle):
			mem, _ = readProcMemory(cmd.Process.Pid) // zero where /proc does not exist
		case <-p.done:
			return startSample{}, fmt.Errorf("exited while idle (%w); last lines:\n%s", p.err, strings.Join(tail.Lines(), "\n"))
		case <-ctx.Done():
		}
	}
	p.Stop(10 * time.Second)
	if err != nil {
		return startSample{}, fmt.Errorf("logged serving, but the health check on %s failed: %w", s.addr, err)
	}
	if status != "SERVING" {
		return startSample{}, fmt.Errorf("logged serving, but health on %s answers %s", s.addr, status)
	}
	return startSample{took: s.at.Sub(start), self: s.self, idle: mem}, nil
}

// procMemory is a process's resident memory in bytes: RSS as the kernel
// counts it (VmRSS, with the mapped binary and libraries) and the part of
// it that is the process's own (RssAnon: heap, stacks).
type procMemory struct{ RSS, Anon uint64 }

// readProcMemory reads VmRSS and RssAnon from /proc/<pid>/status (Linux).
func readProcMemory(pid int) (procMemory, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return procMemory{}, err
	}
	return parseProcStatus(string(b))
}

// parseProcStatus takes VmRSS and RssAnon (in kB) from a /proc status file.
func parseProcStatus(status string) (procMemory, error) {
	var m procMemory
	for line := range strings.SplitSeq(status, "\n") {
		key, value, ok := strings.Cut(line, ":")
		if !ok || (key != "VmRSS" && key != "RssAnon") {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(value), "kB")), 10, 64)
		if err != nil {
			return procMemory{}, fmt.Errorf("%s: %w", key, err)
		}
		if key == "VmRSS" {
			m.RSS = kb << 10
		} else {
			m.Anon = kb << 10
		}
	}
	if m.RSS == 0 {
		return procMemory{}, errors.New("no VmRSS in the status")
	}
	return m, nil
}

// mbFloat is bytes in MiB, rounded to 0.1.
func mbFloat(b uint64) float64 { return math.Round(float64(b)/(1<<20)*10) / 10 }
