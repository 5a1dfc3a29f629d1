package chaos

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// outageProbeEvery is how often the outage probe asks PostgreSQL. A probe
// on a live session is a round trip; one while the server is away is a
// refused connect: neither weighs on the server.
const outageProbeEvery = 20 * time.Millisecond

// outageProbe measures how long PostgreSQL was away during a restart: from
// the first probe that failed (the server ended the probe's session, or
// refused a new one) to the first that succeeded after it. pg_ctlcluster's
// own time is no measure of it: the server answers during much of it (the
// script's start-up, the waits of pg_ctl), and a request waits only while
// the server is away.
type outageProbe struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	from, to time.Time
}

// startOutageProbe probes dsn every outageProbeEvery until stop, or until
// the server answered again after an outage.
func startOutageProbe(ctx context.Context, dsn string) *outageProbe {
	ctx, cancel := context.WithCancel(ctx)
	p := &outageProbe{cancel: cancel, done: make(chan struct{})}
	go p.run(ctx, dsn)
	return p
}

func (p *outageProbe) run(ctx context.Context, dsn string) {
	defer close(p.done)
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			_ = conn.Close(context.WithoutCancel(ctx))
		}
	}()
	tick := time.NewTicker(outageProbeEvery)
	defer tick.Stop()
	for {
		ok := p.once(ctx, dsn, &conn)
		if ctx.Err() != nil {
			return
		}
		now := time.Now()
		p.mu.Lock()
		switch {
		case !ok && p.from.IsZero():
			p.from = now
		case ok && !p.from.IsZero():
			p.to = now
		}
		back := !p.to.IsZero()
		p.mu.Unlock()
		if back {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// once pings the probe's session, or opens one when it has none; false
// when the server did not answer.
func (p *outageProbe) once(ctx context.Context, dsn string, conn **pgx.Conn) bool {
	ctx, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
	defer cancel()
	if *conn == nil {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return false
		}
		*conn = c
	}
	if err := (*conn).Ping(ctx); err != nil {
		_ = (*conn).Close(context.WithoutCancel(ctx))
		*conn = nil
		return false
	}
	return true
}

// stop ends the probe and returns the outage it saw: zero times when the
// server never failed a probe. An outage the probe saw begin but not end
// (the server was not back when stop was called) ends now.
func (p *outageProbe) stop() (from, to time.Time) {
	p.cancel()
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.from.IsZero() && p.to.IsZero() {
		p.to = time.Now()
	}
	return p.from, p.to
}
