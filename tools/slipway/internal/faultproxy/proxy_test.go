package faultproxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// echoServer answers every connection by writing back what it reads.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func startProxy(t *testing.T, upstream string) *Proxy {
	t.Helper()
	p, err := Start("echo", "127.0.0.1:0", upstream)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := (&net.Dialer{Timeout: 5 * time.Second}).Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// roundTrip writes msg and reads the echo, failing after wait.
func roundTrip(c net.Conn, msg []byte, wait time.Duration) ([]byte, error) {
	if err := c.SetDeadline(time.Now().Add(wait)); err != nil {
		return nil, err
	}
	if _, err := c.Write(msg); err != nil {
		return nil, err
	}
	got := make([]byte, len(msg))
	_, err := io.ReadFull(c, got)
	return got, err
}

// generous bounds a wait that only a broken proxy would exhaust.
const generous = 10 * time.Second

func TestProxyForwardsBothWays(t *testing.T) {
	p := startProxy(t, echoServer(t))
	c := dial(t, p.Addr())
	got, err := roundTrip(c, []byte("hello"), generous)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(got))
	assert.Equal(t, int64(1), p.Stats().Accepted)
	// The proxy counts bytes after writing them, so the echo can reach the
	// client a moment before its count does.
	require.Eventually(t, func() bool { return p.Stats().Bytes == 10 }, generous, time.Millisecond,
		"5 bytes each way, counted %d", p.Stats().Bytes)
}

func TestBlackholeHoldsExistingAndNewConnectionsUntilHealed(t *testing.T) {
	p := startProxy(t, echoServer(t))
	before := dial(t, p.Addr())
	_, err := roundTrip(before, []byte("warm"), generous)
	require.NoError(t, err)

	require.NoError(t, p.Partition(Blackhole))
	during := dial(t, p.Addr())
	for name, c := range map[string]net.Conn{"existing": before, "new": during} {
		_, err := roundTrip(c, []byte("ping"), 300*time.Millisecond)
		var ne net.Error
		require.ErrorAs(t, err, &ne, "%s connection: no answer through the partition", name)
		assert.True(t, ne.Timeout(), "%s connection: it waits rather than failing", name)
	}

	p.Heal()
	for name, c := range map[string]net.Conn{"existing": before, "new": during} {
		require.NoError(t, c.SetDeadline(time.Now().Add(generous)))
		got := make([]byte, 4)
		_, err := io.ReadFull(c, got)
		require.NoError(t, err, "%s connection: the held bytes flow once healed", name)
		assert.Equal(t, "ping", string(got), name)
		got, err = roundTrip(c, []byte("again"), generous)
		require.NoError(t, err, name)
		assert.Equal(t, "again", string(got), name)
	}
}

func TestResetPartitionResetsConnectionsUntilHealed(t *testing.T) {
	p := startProxy(t, echoServer(t))
	before := dial(t, p.Addr())
	_, err := roundTrip(before, []byte("warm"), generous)
	require.NoError(t, err)

	require.NoError(t, p.Partition(Reset))
	_, err = roundTrip(before, []byte("ping"), generous)
	require.Error(t, err, "the existing connection was reset")
	assert.False(t, isTimeout(err), "it fails at once, not by timing out: %v", err)

	// The proxy accepts and resets at once, so the reset may already reach
	// the client as its connect completes, or only at the first read.
	during, err := (&net.Dialer{Timeout: generous}).Dial("tcp", p.Addr())
	if err == nil {
		t.Cleanup(func() { _ = during.Close() })
		_, err = roundTrip(during, []byte("ping"), generous)
	}
	require.Error(t, err, "a new connection is reset")
	assert.True(t, errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, syscall.EPIPE), "reset, got %v", err)
	// The proxy counts a reset after sending it: wait for the count.
	require.Eventually(t, func() bool { return p.Stats().Reset >= 2 }, generous, time.Millisecond,
		"the existing and the new connection were reset")

	p.Heal()
	after := dial(t, p.Addr())
	got, err := roundTrip(after, []byte("back"), generous)
	require.NoError(t, err)
	assert.Equal(t, "back", string(got))
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)
}

func TestLatencyDelaysEveryRoundTrip(t *testing.T) {
	p := startProxy(t, echoServer(t))
	c := dial(t, p.Addr())
	const latency = 80 * time.Millisecond
	p.SetLatency(latency)
	for range 3 {
		start := time.Now()
		_, err := roundTrip(c, []byte("x"), generous)
		require.NoError(t, err)
		assert.GreaterOrEqual(t, time.Since(start), latency, "each round trip waits at least the latency")
	}
	assert.Equal(t, int64(3), p.Stats().Delayed, "each reply held back is counted once")
	p.Heal()
	_, err := roundTrip(c, []byte("y"), generous)
	require.NoError(t, err, "healing removes the latency and keeps the connection")
	assert.Equal(t, int64(3), p.Stats().Delayed, "nothing held back once healed")
}

func TestBandwidthLimitsThroughput(t *testing.T) {
	p := startProxy(t, echoServer(t))
	c := dial(t, p.Addr())
	const rate = 64 << 10 // bytes per second
	p.SetBandwidth(rate)
	msg := bytes.Repeat([]byte("b"), 48<<10)
	start := time.Now()
	got, err := roundTrip(c, msg, generous)
	require.NoError(t, err)
	assert.Equal(t, msg, got)
	// The first write of each direction goes at once; every byte after it
	// waits for the budget: at least (size - one chunk) / rate.
	minimum := time.Duration(float64(len(msg)-chunk) / rate * float64(time.Second))
	assert.GreaterOrEqual(t, time.Since(start), minimum)
}

func TestPartitionRejectsUnknownMode(t *testing.T) {
	p := startProxy(t, echoServer(t))
	assert.ErrorContains(t, p.Partition("sideways"), `unknown partition mode "sideways"`)
}

func TestCloseEndsHeldConnections(t *testing.T) {
	p, err := Start("echo", "127.0.0.1:0", echoServer(t))
	require.NoError(t, err)
	require.NoError(t, p.Partition(Blackhole))
	c := dial(t, p.Addr())
	require.NoError(t, p.Close())
	require.NoError(t, c.SetDeadline(time.Now().Add(generous)))
	_, err = c.Read(make([]byte, 1))
	assert.Error(t, err, "the held connection is closed with the proxy")
	_, err = (&net.Dialer{Timeout: time.Second}).Dial("tcp", p.Addr())
	assert.Error(t, err, "nothing listens after Close")
}
