package ratelimit

import (
	"context"
	"sync"
	"time"
)

// minSweep is the number of keys below which Memory does not look for
// idle keys to drop.
const minSweep = 1024

// Memory is a Limiter in process memory. A key's state is its theoretical
// arrival time (TAT): when the key would be back to a full burst. Keys that
// reached it are dropped, so memory follows the keys active in the last
// Burst/Rate seconds. It is safe for concurrent use.
type Memory struct {
	limit    Limit
	interval time.Duration
	now      func() time.Time

	mu      sync.Mutex
	tat     map[string]time.Time
	sweepAt int
}

// NewMemory returns an in-memory limiter enforcing l, which must be valid
// (Limit.Validate).
func NewMemory(l Limit) *Memory {
	return &Memory{limit: l, interval: l.interval(), now: time.Now, tat: make(map[string]time.Time), sweepAt: minSweep}
}

// Allow implements Limiter.
func (m *Memory) Allow(_ context.Context, key string) Decision {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if len(m.tat) >= m.sweepAt {
		m.sweep(now)
	}
	tat, ok := m.tat[key]
	if !ok || tat.Before(now) {
		tat = now
	}
	next := tat.Add(m.interval)
	allowAt := next.Add(-time.Duration(m.limit.Burst) * m.interval)
	if now.Before(allowAt) {
		return Decision{RetryAfter: allowAt.Sub(now)}
	}
	m.tat[key] = next
	return Decision{Allowed: true}
}

// Refund implements Limiter.
func (m *Memory) Refund(_ context.Context, key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	tat, ok := m.tat[key]
	if !ok {
		return
	}
	tat = tat.Add(-m.interval)
	if !tat.After(m.now()) {
		delete(m.tat, key) // back to a full burst, which is no state
		return
	}
	m.tat[key] = tat
}

// sweep drops the keys back to a full burst, which is the same as having
// no state, and sets when to sweep next so the cost stays amortised.
func (m *Memory) sweep(now time.Time) {
	for k, tat := range m.tat {
		if !tat.After(now) {
			delete(m.tat, k)
		}
	}
	m.sweepAt = max(2*len(m.tat), minSweep)
}
