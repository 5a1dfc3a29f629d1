package server_test

import (
	"context"
	"net"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/test/bufconn"

	"github.com/slipway-dev/slipway/platform/server"
)

// inProcessAddr is the peer address of the REST gateway's connection.
func inProcessAddr() net.Addr {
	lis := bufconn.Listen(1)
	defer lis.Close()
	return lis.Addr()
}

func TestClientAddr(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	tcp := func(s string) net.Addr { return net.TCPAddrFromAddrPort(netip.MustParseAddrPort(s)) }
	tests := []struct {
		name    string
		peer    net.Addr
		md      metadata.MD
		trusted []netip.Prefix
		want    string
	}{
		{name: "native gRPC: the peer", peer: tcp("192.0.2.7:5000"), want: "192.0.2.7"},
		{name: "native gRPC: a forged client address is ignored", peer: tcp("192.0.2.7:5000"),
			md: metadata.Pairs("x-slipway-client-addr", "198.51.100.1:1"), want: "192.0.2.7"},
		{name: "native gRPC: X-Forwarded-For is ignored with no trusted proxy", peer: tcp("192.0.2.7:5000"),
			md: metadata.Pairs("x-forwarded-for", "198.51.100.1"), want: "192.0.2.7"},
		{name: "IPv4-mapped IPv6 is IPv4", peer: tcp("[::ffff:192.0.2.7]:5000"), want: "192.0.2.7"},
		{name: "IPv6", peer: tcp("[2001:db8::1]:5000"), want: "2001:db8::1"},
		{name: "REST: the address the HTTP listener recorded", peer: inProcessAddr(),
			md: metadata.Pairs("x-slipway-client-addr", "192.0.2.9:4000"), want: "192.0.2.9"},
		{name: "REST without the listener's record: unknown", peer: inProcessAddr(), want: "invalid IP"},
		{name: "REST without the listener's record: the hop the gateway appended", peer: inProcessAddr(),
			md: metadata.Pairs("x-forwarded-for", "198.51.100.1, 192.0.2.9"), want: "192.0.2.9"},
		{name: "a trusted proxy: the rightmost untrusted X-Forwarded-For entry", peer: tcp("10.1.2.3:80"), trusted: proxies,
			md: metadata.Pairs("x-forwarded-for", "203.0.113.5, 198.51.100.1, 10.9.9.9"), want: "198.51.100.1"},
		{name: "a trusted proxy over REST, the gateway's appended hop included", peer: inProcessAddr(), trusted: proxies,
			md: metadata.Pairs("x-slipway-client-addr", "10.1.2.3:80", "x-forwarded-for", "198.51.100.1, 10.1.2.3"), want: "198.51.100.1"},
		{name: "a trusted proxy with garbage beyond it: the last trusted hop", peer: tcp("10.1.2.3:80"), trusted: proxies,
			md: metadata.Pairs("x-forwarded-for", "not-an-ip, 10.9.9.9"), want: "10.9.9.9"},
		{name: "an untrusted peer's X-Forwarded-For is ignored", peer: tcp("192.0.2.7:5000"), trusted: proxies,
			md: metadata.Pairs("x-forwarded-for", "198.51.100.1"), want: "192.0.2.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := peer.NewContext(context.Background(), &peer.Peer{Addr: tt.peer})
			if tt.md != nil {
				ctx = metadata.NewIncomingContext(ctx, tt.md)
			}
			assert.Equal(t, tt.want, server.ClientAddr(ctx, tt.trusted).String())
		})
	}
	assert.False(t, server.ClientAddr(context.Background(), nil).IsValid(), "no peer: unknown")
}
