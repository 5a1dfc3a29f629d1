// Package faultproxy is a TCP proxy that puts network faults between a
// service and one of its dependencies (PostgreSQL, NATS, Redis): a partition,
// added latency, or limited bandwidth, switched on and off while traffic
// flows. slipway chaos starts one per dependency and points the services at
// it.
//
// A partition holds bytes rather than dropping them: a blocked direction
// stops reading, so the sender's socket buffers fill and it stalls, as over a
// real network where nothing is acknowledged. When the partition heals the
// held bytes flow on, in order, and a client that gave up meanwhile has
// closed its connection. Dropping bytes mid-stream (as toxiproxy's timeout
// toxic does) would instead corrupt protocol framing in a way no real
// network can, because TCP never delivers a stream with a hole in it.
package faultproxy

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Mode is how a partition behaves.
type Mode string

// Partition modes.
const (
	// Blackhole keeps every connection open and passes no bytes until the
	// partition heals; new connections are accepted and held the same way.
	Blackhole Mode = "blackhole"
	// Reset closes every connection with a TCP RST and resets each new one
	// at once, as when the dependency's host is up but its process is not.
	Reset Mode = "reset"
)

// chunk is the most a pipe reads at once.
const chunk = 32 << 10

// Stats are the proxy's counts since it started.
type Stats struct {
	Accepted int64 // connections accepted
	Active   int64 // connections open now
	Reset    int64 // connections reset by a partition in Reset mode
	Bytes    int64 // bytes passed, both directions
	Delayed  int64 // reads from upstream held back by added latency
}

// Proxy forwards every connection accepted on its listener to one upstream
// address, applying the faults set at the time each chunk passes.
type Proxy struct {
	name     string
	upstream string
	ln       net.Listener

	mu        sync.Mutex
	healed    chan struct{} // nil when no partition; closed when it heals
	mode      Mode
	latency   time.Duration
	bandwidth int64 // bytes per second per direction of a connection; 0 is unlimited
	conns     map[*link]struct{}
	closed    bool

	accepted, reset, bytes, delayed atomic.Int64
	wg                              sync.WaitGroup
}

// Start listens on listenAddr (host:0 picks a port) and forwards to upstream.
func Start(name, listenAddr, upstream string) (*Proxy, error) {
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", listenAddr)
	if err != nil {
		return nil, fmt.Errorf("proxy %s: listen on %s: %w", name, listenAddr, err)
	}
	p := &Proxy{name: name, upstream: upstream, ln: ln, conns: map[*link]struct{}{}}
	p.wg.Go(p.accept)
	return p, nil
}

// Name is what the proxy stands in front of.
func (p *Proxy) Name() string { return p.name }

// Addr is the address clients dial instead of the upstream.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Upstream is the address the proxy forwards to.
func (p *Proxy) Upstream() string { return p.upstream }

// Stats returns the counts so far.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	active := int64(len(p.conns))
	p.mu.Unlock()
	return Stats{Accepted: p.accepted.Load(), Active: active, Reset: p.reset.Load(), Bytes: p.bytes.Load(), Delayed: p.delayed.Load()}
}

// Partition cuts the link in the given mode until Heal.
func (p *Proxy) Partition(mode Mode) error {
	if mode != Blackhole && mode != Reset {
		return fmt.Errorf("proxy %s: unknown partition mode %q (want %s or %s)", p.name, mode, Blackhole, Reset)
	}
	p.mu.Lock()
	if p.healed == nil {
		p.healed = make(chan struct{})
	}
	p.mode = mode
	var victims []*link
	if mode == Reset {
		for l := range p.conns {
			victims = append(victims, l)
		}
	}
	p.mu.Unlock()
	for _, l := range victims {
		l.abort()
		p.reset.Add(1)
	}
	return nil
}

// SetLatency delays every byte the upstream sends by d (0 turns it off), so
// each request-response round trip takes d longer.
func (p *Proxy) SetLatency(d time.Duration) {
	p.mu.Lock()
	p.latency = max(d, 0)
	p.mu.Unlock()
}

// SetBandwidth limits each direction of each connection to bytesPerSecond
// (0 or less is unlimited).
func (p *Proxy) SetBandwidth(bytesPerSecond int64) {
	p.mu.Lock()
	p.bandwidth = max(bytesPerSecond, 0)
	p.mu.Unlock()
}

// Heal ends a partition and removes latency and bandwidth limits: held bytes
// flow on.
func (p *Proxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.healed != nil {
		close(p.healed)
		p.healed = nil
	}
	p.mode, p.latency, p.bandwidth = "", 0, 0
}

// Close stops accepting, closes every connection and waits for the pipes.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	if p.healed != nil {
		close(p.healed)
		p.healed = nil
	}
	links := make([]*link, 0, len(p.conns))
	for l := range p.conns {
		links = append(links, l)
	}
	p.mu.Unlock()
	err := p.ln.Close()
	for _, l := range links {
		l.close()
	}
	p.wg.Wait()
	return err
}

// faults is a snapshot of what to apply to one chunk.
type faults struct {
	healed    chan struct{} // wait on it when non-nil
	mode      Mode
	latency   time.Duration
	bandwidth int64
}

func (p *Proxy) current() faults {
	p.mu.Lock()
	defer p.mu.Unlock()
	return faults{healed: p.healed, mode: p.mode, latency: p.latency, bandwidth: p.bandwidth}
}

func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.accepted.Add(1)
		l := &link{client: c, done: make(chan struct{})}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			_ = c.Close()
			return
		}
		p.conns[l] = struct{}{}
		p.mu.Unlock()
		p.wg.Go(func() {
			p.serve(l)
			p.mu.Lock()
			delete(p.conns, l)
			p.mu.Unlock()
		})
	}
}

// serve connects l to the upstream once no partition stands in the way,
// then pipes both directions until either side closes.
func (p *Proxy) serve(l *link) {
	defer l.close()
	for {
		f := p.current()
		if f.healed == nil {
			break
		}
		if f.mode == Reset {
			l.abort()
			p.reset.Add(1)
			return
		}
		select {
		case <-f.healed:
		case <-l.done:
			return
		}
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	up, err := d.Dial("tcp", p.upstream)
	if err != nil {
		return
	}
	if !l.attach(up) {
		_ = up.Close()
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() { p.pipe(l, up, l.client, false) })
	wg.Go(func() { p.pipe(l, l.client, up, true) })
	wg.Wait()
}

// piece is one read, stamped with when it was read.
type piece struct {
	data []byte
	at   time.Time
}

// pipe copies src to dst. A reader goroutine stamps each chunk; the writer
// waits out a partition, the latency from that stamp (downstream only) and
// the bandwidth budget before writing it. The queue between them is short,
// so a blocked writer soon stops the reader and the sender stalls.
func (p *Proxy) pipe(l *link, dst, src net.Conn, downstream bool) {
	queue := make(chan piece, 4)
	go func() {
		defer close(queue)
		for {
			buf := make([]byte, chunk)
			n, err := src.Read(buf)
			if n > 0 {
				select {
				case queue <- piece{buf[:n], time.Now()}:
				case <-l.done:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	var budget throttle
	for pc := range queue {
		if !p.await(l, pc, downstream, &budget) {
			break
		}
		if _, err := dst.Write(pc.data); err != nil {
			break
		}
		p.bytes.Add(int64(len(pc.data)))
	}
	// One direction ended: end the other too, as a plain proxy would after
	// passing the close on.
	l.close()
	for range queue { //nolint:revive // drain so the reader can exit
	}
}

// await blocks until pc may be written; false when the link closed first.
func (p *Proxy) await(l *link, pc piece, downstream bool, budget *throttle) bool {
	counted := false
	for {
		f := p.current()
		if f.healed != nil {
			select {
			case <-f.healed:
				continue
			case <-l.done:
				return false
			}
		}
		var wait time.Duration
		if downstream && f.latency > 0 {
			wait = time.Until(pc.at.Add(f.latency))
			if wait > 0 && !counted {
				p.delayed.Add(1)
				counted = true
			}
		}
		wait = max(wait, budget.delay(f.bandwidth))
		if wait <= 0 {
			budget.spend(len(pc.data), f.bandwidth)
			return true
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-l.done:
			t.Stop()
			return false
		}
		// Re-read the faults: a partition may have started meanwhile.
	}
}

// throttle spaces writes so that a direction passes at most rate bytes per
// second: each write moves the earliest time of the next one on by its
// size over the rate.
type throttle struct{ next time.Time }

func (t *throttle) delay(rate int64) time.Duration {
	if rate <= 0 || t.next.IsZero() {
		return 0
	}
	return time.Until(t.next)
}

func (t *throttle) spend(n int, rate int64) {
	if rate <= 0 {
		t.next = time.Time{}
		return
	}
	now := time.Now()
	if t.next.Before(now) {
		t.next = now
	}
	t.next = t.next.Add(time.Duration(float64(n) / float64(rate) * float64(time.Second)))
}

// link is one proxied connection.
type link struct {
	client net.Conn
	mu     sync.Mutex
	up     net.Conn
	once   sync.Once
	done   chan struct{}
}

func (l *link) attach(up net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-l.done:
		return false
	default:
	}
	l.up = up
	return true
}

func (l *link) close() {
	l.once.Do(func() {
		close(l.done)
		l.mu.Lock()
		up := l.up
		l.mu.Unlock()
		_ = l.client.Close()
		if up != nil {
			_ = up.Close()
		}
	})
}

// abort closes both sides with an RST instead of a FIN.
func (l *link) abort() {
	l.mu.Lock()
	up := l.up
	l.mu.Unlock()
	for _, c := range []net.Conn{l.client, up} {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
	}
	l.close()
}
