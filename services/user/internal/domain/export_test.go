package domain

import (
	"time"

	"github.com/google/uuid"
)

// SetClock fixes the time the service stamps on new accounts.
func (s *UserService) SetClock(now func() time.Time) { s.now = now }

// SetIDs fixes the ids the service gives new accounts.
func (s *UserService) SetIDs(newID func() (uuid.UUID, error)) { s.newID = newID }
