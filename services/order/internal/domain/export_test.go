package domain

import "time"

// SetClock fixes the time the service stamps on what it stores.
func (s *OrderService) SetClock(now func() time.Time) { s.now = now }
