package rpc

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
)

// An IPv6 client is keyed by its /64: one subscriber gets a whole /64, and
// must not get a fresh budget per address in it.
func TestClientKey(t *testing.T) {
	tests := map[string]string{
		"192.0.2.7":            "192.0.2.7",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1": "2001:db8:1:2::/64",
		"fe80::1%eth0":         "fe80::/64",
		"::ffff:192.0.2.7":     "192.0.2.7",
		"2001:db8:1:3::1":      "2001:db8:1:3::/64",
	}
	for in, want := range tests {
		assert.Equal(t, want, clientKey(netip.MustParseAddr(in)), in)
	}
	assert.Empty(t, clientKey(netip.Addr{}), "unknown")
}
