package password

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"
)

var errQueueTimeout = errors.New("queue timeout")

// slots is a semaphore with two queues: a free slot goes to the longest
// waiting high-priority caller, and to a low-priority one only when no
// high-priority caller waits.
type slots struct {
	mu        sync.Mutex
	free      int
	high, low []chan struct{} // waiters, oldest first; closed when handed a slot
}

func newSlots(n int) *slots { return &slots{free: n} }

// acquire takes a slot, waiting until timeout fires (errQueueTimeout; nil
// waits for ever) or ctx ends.
func (s *slots) acquire(ctx context.Context, low bool, timeout <-chan time.Time) error {
	s.mu.Lock()
	if s.free > 0 {
		s.free--
		s.mu.Unlock()
		return nil
	}
	granted := make(chan struct{})
	if low {
		s.low = append(s.low, granted)
	} else {
		s.high = append(s.high, granted)
	}
	s.mu.Unlock()

	var err error
	select {
	case <-granted:
		return nil
	case <-timeout:
		err = errQueueTimeout
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.mu.Lock()
	if s.remove(granted) {
		s.mu.Unlock()
		return err
	}
	s.mu.Unlock()
	s.release() // handed a slot while giving up: pass it on
	return err
}

// remove drops a waiter that gave up; false when it was already granted.
func (s *slots) remove(granted chan struct{}) bool {
	for _, q := range []*[]chan struct{}{&s.high, &s.low} {
		if i := slices.Index(*q, granted); i >= 0 {
			*q = slices.Delete(*q, i, i+1)
			return true
		}
	}
	return false
}

// release returns a slot: to the next waiter, high priority first.
func (s *slots) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, q := range []*[]chan struct{}{&s.high, &s.low} {
		if len(*q) > 0 {
			close((*q)[0])
			*q = (*q)[1:]
			return
		}
	}
	s.free++
}
