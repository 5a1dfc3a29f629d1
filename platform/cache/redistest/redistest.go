// Package redistest gives tests a real Redis and a way to cut it off:
// URL returns a fresh key prefix on the Redis at REDIS_TEST_URL, and Proxy
// stands between a client and that Redis, forwarding or black-holing
// traffic (connections accepted, nothing ever answered, no reset), which is
// how a network partition looks to a client.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// defaultURL is the Redis used when REDIS_TEST_URL is unset.
const defaultURL = "redis://127.0.0.1:6379/0"

// URL returns the URL of the test Redis and a key prefix unique to this
// test; every key under the prefix is deleted when the test ends. When
// Redis cannot be reached the test is skipped, unless CI=true: then it
// fails, so CI never passes by skipping.
func URL(t testing.TB) (redisURL, prefix string) {
	t.Helper()
	redisURL = os.Getenv("REDIS_TEST_URL")
	if redisURL == "" {
		redisURL = defaultURL
	}
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatalf("redistest: REDIS_TEST_URL: %v", err)
	}
	c := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		msg := "redistest: Redis at " + opt.Addr + " unreachable: " + err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix = "slipway:test:" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		defer func() { _ = c.Close() }()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		iter := c.Scan(ctx, 0, prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			_ = c.Del(ctx, iter.Val()).Err()
		}
	})
	return redisURL, prefix
}

// Proxy is a TCP proxy in front of the test Redis. It starts forwarding;
// BlackHole makes it accept connections and swallow what they send without
// ever answering, and drops nothing (no RST), until Forward.
type Proxy struct {
	ln       net.Listener
	target   string
	blackout atomic.Bool

	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

// NewProxy starts a proxy to the Redis of redisURL, stopped when the test
// ends.
func NewProxy(t testing.TB, redisURL string) *Proxy {
	t.Helper()
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: listen: %v", err)
	}
	p := &Proxy{ln: ln, target: opt.Addr}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// URL is redisURL with its address replaced by the proxy's.
func (p *Proxy) URL(t testing.TB, redisURL string) string {
	t.Helper()
	u, err := url.Parse(redisURL)
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	u.Host = p.ln.Addr().String()
	return u.String()
}

// BlackHole makes the proxy stop answering: connections open now and later
// stay open and silent.
func (p *Proxy) BlackHole() {
	p.blackout.Store(true)
}

// Forward makes the proxy forward new connections to Redis again. The
// connections black-holed meanwhile stay silent; clients drop them on
// their timeouts.
func (p *Proxy) Forward() { p.blackout.Store(false) }

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.track(c)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serve(c)
		}()
	}
}

func (p *Proxy) track(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conns = append(p.conns, c)
}

// serve forwards c to Redis while the proxy forwards; once it black-holes,
// everything c sends is read and dropped and nothing is written back.
func (p *Proxy) serve(c net.Conn) {
	if p.blackout.Load() {
		_, _ = io.Copy(io.Discard, c)
		return
	}
	var d net.Dialer
	upstream, err := d.DialContext(context.Background(), "tcp", p.target)
	if err != nil {
		_ = c.Close()
		return
	}
	p.track(upstream)
	go func() {
		// Requests go up unless black-holed; then they vanish.
		buf := make([]byte, 32<<10)
		for {
			n, err := c.Read(buf)
			if err != nil {
				_ = upstream.Close()
				return
			}
			if p.blackout.Load() {
				continue
			}
			if _, err := upstream.Write(buf[:n]); err != nil {
				return
			}
		}
	}()
	_, _ = io.Copy(c, upstream)
	_ = c.Close()
}

func (p *Proxy) close() {
	_ = p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
