package config

import (
	"math"
	"strconv"
	"time"
)

// AccessLog is how much the access log writes: one "rpc" line per call by
// default. A busy service can sample the successful fast calls, which are
// most of its lines and the least read; a failed call and a slow one are
// always written, so sampling never hides a problem.
type AccessLog struct {
	// AccessLogSample is the fraction, from 0 to 1, of the successful calls
	// faster than AccessLogSlow that the access log writes: 1 (the default)
	// writes every call, 0.1 about one in ten, 0 none of them.
	AccessLogSample float64 `yaml:"access_log_sample" env:"ACCESS_LOG_SAMPLE" help:"fraction (0 to 1) of successful calls faster than ACCESS_LOG_SLOW that are logged"`
	// AccessLogSlow is the duration from which a successful call is always
	// written, whatever AccessLogSample says.
	AccessLogSlow time.Duration `yaml:"access_log_slow" env:"ACCESS_LOG_SLOW" help:"duration from which a successful call is always logged"`
}

// setDefaults writes every call, as a service with a few hundred calls a
// second can afford and as a developer expects; 250ms is far beyond a
// healthy call of these services (a few ms) and still short of a timeout.
func (a *AccessLog) setDefaults() {
	a.AccessLogSample = 1
	a.AccessLogSlow = 250 * time.Millisecond
}

// validate reports every unusable access-log setting through bad.
func (a *AccessLog) validate(bad func(key, value, reason string)) {
	if math.IsNaN(a.AccessLogSample) || a.AccessLogSample < 0 || a.AccessLogSample > 1 {
		bad("ACCESS_LOG_SAMPLE", strconv.FormatFloat(a.AccessLogSample, 'g', -1, 64),
			"want a fraction from 0 to 1 (1 writes every call, 0.1 about one in ten)")
	}
	if a.AccessLogSlow <= 0 {
		bad("ACCESS_LOG_SLOW", a.AccessLogSlow.String(), "must be greater than 0")
	}
}
