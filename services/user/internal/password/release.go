package password

import (
	"runtime/debug"
	"sync"
	"time"
)

// idleRelease gives the heap's free memory back to the operating system
// once no hash has run for delay. Every hash allocates Params.Memory
// (19 MiB by default) and drops it; an idle service allocates too little
// to trigger the collection that would free it, so without this the
// buffers of the last logins (or of the accounts ensured at start) stay
// resident until the runtime's periodic GC, two minutes later.
type idleRelease struct {
	delay   time.Duration
	release func() // debug.FreeOSMemory; tests count the calls

	mu      sync.Mutex
	running int         // hashes in progress
	timer   *time.Timer // nil until the first hash ends
}

func newIdleRelease(delay time.Duration) *idleRelease {
	return &idleRelease{delay: delay, release: debug.FreeOSMemory}
}

// begin marks a hash as running: no release happens until it ends.
func (r *idleRelease) begin() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.running++
	if r.timer != nil {
		r.timer.Stop()
	}
}

// end marks a hash as done; the last one running starts the delay.
func (r *idleRelease) end() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.running--
	if r.running > 0 {
		return
	}
	if r.timer == nil {
		r.timer = time.AfterFunc(r.delay, r.release)
		return
	}
	r.timer.Reset(r.delay)
}
