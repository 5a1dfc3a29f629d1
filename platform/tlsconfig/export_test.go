package tlsconfig

import "time"

// SetPollInterval lets tests see a rewrite of the files without waiting a second.
func SetPollInterval(s *Source, d time.Duration) { s.interval = d }
