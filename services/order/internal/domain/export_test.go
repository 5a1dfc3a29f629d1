package domain

import "time"

// SetClock fixes the time the service stamps on what it stores.
func (s *OrderService) SetClock(now func() time.Time) { s.now = now }

// SetLimiter sets the per-user order limiter.
func (s *OrderService) SetLimiter(l OrderLimiter) { s.limiter = l }
