//go:build ignore

// firstrpc starts a server, calls one unary gRPC method on it every few
// milliseconds until the call succeeds, and prints the milliseconds from
// the start to that first good answer. With -idle it then waits that long
// and prints the server's resident set (VmRSS, KiB) before stopping it.
//
//	firstrpc -addr 127.0.0.1:9000 -method /helloworld.Greeter/SayHello -body req.bin -- ./server args...
//
// The request body file is the serialized protobuf message. Only loopback.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
)

// rawCodec sends and receives message bytes as they are.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

var _ encoding.Codec = rawCodec{}

func main() {
	addr := flag.String("addr", "", "gRPC address of the server (loopback)")
	method := flag.String("method", "", "full method, /pkg.Service/Method")
	bodyFile := flag.String("body", "", "file with the request message's bytes")
	idle := flag.Duration("idle", 0, "after the first good call, wait this long and print VmRSS")
	timeout := flag.Duration("timeout", 30*time.Second, "give up after")
	flag.Parse()
	if !strings.HasPrefix(*addr, "127.") || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: firstrpc -addr 127.0.0.1:PORT -method /pkg.S/M -body FILE -- command args...")
		os.Exit(2)
	}
	body, err := os.ReadFile(*bodyFile)
	if err != nil {
		fail(err)
	}
	// Dial, not NewClient: the grpc-go that kratos requires predates it.
	// Reconnect every 2 ms: grpc-go's default backoff (1 s after the first
	// refused connection) would be measured instead of the server.
	conn, err := grpc.Dial(*addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 2 * time.Millisecond, Multiplier: 1, MaxDelay: 2 * time.Millisecond},
			MinConnectTimeout: 100 * time.Millisecond,
		}))
	if err != nil {
		fail(err)
	}
	defer conn.Close()

	cmd := exec.Command(flag.Arg(0), flag.Args()[1:]...)
	cmd.Stdout, cmd.Stderr = nil, nil
	start := time.Now()
	if err := cmd.Start(); err != nil {
		fail(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
	}()
	var lastErr error
	for time.Since(start) < *timeout {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		var out []byte
		lastErr = conn.Invoke(ctx, *method, &body, &out, grpc.WaitForReady(true))
		cancel()
		if lastErr == nil {
			fmt.Printf("first_good_ms %.1f\n", float64(time.Since(start).Microseconds())/1000)
			if *idle > 0 {
				time.Sleep(*idle)
				fmt.Printf("idle_rss_kib %d\n", vmRSS(cmd.Process.Pid))
			}
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	fail(fmt.Errorf("no good answer within %s: %v", *timeout, lastErr))
}

// vmRSS reads VmRSS (KiB) from /proc/<pid>/status.
func vmRSS(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var kib int64
		if _, err := fmt.Sscanf(sc.Text(), "VmRSS: %d kB", &kib); err == nil {
			return kib
		}
	}
	return -1
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "firstrpc:", err)
	os.Exit(1)
}
