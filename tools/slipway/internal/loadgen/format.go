package loadgen

import (
	"strconv"
	"strings"
)

// FormatRate prints a rate without trailing zeros.
func FormatRate(r float64) string { return strconv.FormatFloat(r, 'f', -1, 64) }

// FormatMS prints milliseconds with three significant digits at least.
func FormatMS(ms float64) string {
	switch {
	case ms >= 100:
		return strconv.FormatFloat(ms, 'f', 0, 64)
	case ms >= 10:
		return strconv.FormatFloat(ms, 'f', 1, 64)
	case ms >= 1:
		return strconv.FormatFloat(ms, 'f', 2, 64)
	}
	return strconv.FormatFloat(ms, 'f', 3, 64)
}

// OneLine puts s on one line of at most n bytes and an ellipsis.
func OneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "..."
	}
	return s
}
