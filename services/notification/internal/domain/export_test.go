package domain

import (
	"time"

	"github.com/google/uuid"
)

// SetClock fixes the time the service stamps on new notifications.
func (s *NotificationService) SetClock(now func() time.Time) { s.now = now }

// SetIDs fixes the ids the service gives new notifications.
func (s *NotificationService) SetIDs(newID func() (uuid.UUID, error)) { s.newID = newID }
