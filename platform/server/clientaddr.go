package server

import (
	"context"
	"net/http"
	"net/netip"
	"strings"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

// clientAddrHeader carries the HTTP client's address from the HTTP
// listener to the gRPC server in process. The listener overwrites it on
// every request, and ClientAddr reads it only from the in-process gateway
// connection, so no client can choose it.
const clientAddrHeader = "x-slipway-client-addr"

// inProcessNetwork is the network of the connection the REST gateway
// reaches the gRPC server through (bufconn); no remote peer has it.
const inProcessNetwork = "bufconn"

// setClientAddr records r's remote address for ClientAddr, replacing
// whatever the client sent under that name. REST reaches the gRPC server
// through grpc-gateway, whose header matcher forwards this header as
// metadata; gRPC-Web and Connect reach it through its ServeHTTP, whose
// peer already is r's remote address.
func setClientAddr(r *http.Request) {
	r.Header.Set(clientAddrHeader, r.RemoteAddr)
}

// ClientAddr returns the address of the client that made the RPC in ctx:
// the peer of a native gRPC connection, and the HTTP request's remote
// address for REST, gRPC-Web and Connect. When that address is in trusted
// (proxies in front of the service, e.g. an ingress), the client is the
// rightmost X-Forwarded-For entry not in trusted. With trusted empty,
// X-Forwarded-For is never read. The zero Addr means unknown.
func ClientAddr(ctx context.Context, trusted []netip.Prefix) netip.Addr {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return netip.Addr{}
	}
	md, _ := metadata.FromIncomingContext(ctx)
	var addr netip.Addr
	if p.Addr.Network() == inProcessNetwork {
		addr = gatewayClient(md)
	} else {
		addr = parseAddr(p.Addr.String())
	}
	if !addr.IsValid() || !inPrefixes(addr, trusted) {
		return addr
	}
	hops := strings.Split(strings.Join(md.Get("x-forwarded-for"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := parseAddr(strings.TrimSpace(hops[i]))
		if !hop.IsValid() {
			return addr // garbage from beyond the proxies: the last hop we trust
		}
		addr = hop
		if !inPrefixes(hop, trusted) {
			return hop
		}
	}
	return addr
}

// gatewayClient is the HTTP client of a REST call: the address the HTTP
// listener recorded or, failing that, the hop grpc-gateway itself appends
// to X-Forwarded-For (its last entry), which the client cannot write
// either.
func gatewayClient(md metadata.MD) netip.Addr {
	if a := parseAddr(first(md, clientAddrHeader)); a.IsValid() {
		return a
	}
	hops := md.Get("x-forwarded-for")
	if len(hops) == 0 {
		return netip.Addr{}
	}
	last := hops[len(hops)-1]
	return parseAddr(strings.TrimSpace(last[strings.LastIndex(last, ",")+1:]))
}

// parseAddr reads "ip", "ip:port" or "[ipv6]:port"; IPv4-mapped IPv6
// addresses become IPv4.
func parseAddr(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return a.Unmap()
	}
	return netip.Addr{}
}

func inPrefixes(a netip.Addr, prefixes []netip.Prefix) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
