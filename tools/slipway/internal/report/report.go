// Package report holds the small formatting rules every verb's output shares:
// durations in seconds, goal verdicts and URLs without their passwords.
package report

import (
	"fmt"
	"net/url"
	"time"
)

// Seconds formats d as seconds with two decimals: "0.21s".
func Seconds(d time.Duration) string {
	return fmt.Sprintf("%.2fs", d.Seconds())
}

// RedactURL is raw with its password masked, for output.
func RedactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return "(unparsable URL)"
}

// Verdict says which goal a median meets.
func Verdict(ms float64, target, seed time.Duration) string {
	switch d := time.Duration(ms * float64(time.Millisecond)); {
	case d <= target:
		return "target met"
	case d <= seed:
		return "seed goal met, target missed"
	default:
		return "seed goal missed"
	}
}
