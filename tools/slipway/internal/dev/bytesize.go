package dev

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// byteSize is a flag.Value of a number of bytes: a whole number with an
// optional unit B, KiB, MiB or GiB ("256MiB").
type byteSize struct{ n *int64 }

var byteUnits = []struct {
	suffix string
	size   int64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

func (b byteSize) String() string {
	if b.n == nil {
		return ""
	}
	for _, u := range byteUnits {
		if *b.n != 0 && *b.n%u.size == 0 {
			return strconv.FormatInt(*b.n/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatInt(*b.n, 10)
}

func (b byteSize) Set(s string) error {
	num, unit := strings.TrimSpace(s), int64(1)
	for _, u := range byteUnits {
		if rest, ok := strings.CutSuffix(num, u.suffix); ok {
			num, unit = strings.TrimSpace(rest), u.size
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/unit {
		return fmt.Errorf("%q: want a number of bytes, such as 268435456 or 256MiB (units B, KiB, MiB, GiB)", s)
	}
	*b.n = n * unit
	return nil
}
