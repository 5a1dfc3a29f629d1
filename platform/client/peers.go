package client

import (
	"fmt"
	"net"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
)

// listScheme is the resolver scheme of a connection dialed at a list of
// addresses; each such connection registers its own resolver under it
// (grpc.WithResolvers), so nothing is global.
const listScheme = "slipway-list"

// IsAddressList reports whether target is a comma-separated list of
// host:port addresses (every instance of one service) rather than a single
// gRPC target.
func IsAddressList(target string) bool { return strings.Contains(target, ",") }

// ParseAddressList splits a comma-separated list of host:port addresses,
// each with a host and a port, at least two and none repeated.
func ParseAddressList(list string) ([]string, error) {
	var addrs []string
	seen := map[string]bool{}
	for a := range strings.SplitSeq(list, ",") {
		a = strings.TrimSpace(a)
		host, port, err := net.SplitHostPort(a)
		if err != nil || host == "" || port == "" {
			return nil, fmt.Errorf("address list %q: %q is not host:port", list, a)
		}
		if seen[a] {
			return nil, fmt.Errorf("address list %q: %s is listed twice", list, a)
		}
		seen[a] = true
		addrs = append(addrs, a)
	}
	if len(addrs) < 2 {
		return nil, fmt.Errorf("address list %q: want at least two host:port addresses", list)
	}
	return addrs, nil
}

// listTarget turns a list of addresses into a target that a manual resolver
// of this connection alone resolves to all of them, and the dial option that
// installs it. Round robin (serviceConfig) then spreads calls over the
// instances that are READY: one that is down leaves the picker, so a
// retried attempt goes to another.
func listTarget(list string) (string, []grpc.DialOption, error) {
	addrs, err := ParseAddressList(list)
	if err != nil {
		return "", nil, err
	}
	r := manual.NewBuilderWithScheme(listScheme)
	state := resolver.State{}
	for _, a := range addrs {
		state.Endpoints = append(state.Endpoints, resolver.Endpoint{Addresses: []resolver.Address{{Addr: a}}})
	}
	r.InitialState(state)
	reconnect := grpc.WithConnectParams(grpc.ConnectParams{Backoff: instanceBackoff, MinConnectTimeout: 20 * time.Second})
	// The target's endpoint is the authority (the :authority header, and
	// the TLS server name when the caller names no service): the first
	// instance's, as if it alone were dialed.
	return listScheme + ":///" + addrs[0], []grpc.DialOption{grpc.WithResolvers(r), reconnect}, nil
}

// instanceBackoff is how soon a connection to one instance of a list is
// tried again after it failed: from 100 ms, growing to 2 s at most, where
// gRPC's default starts at 1 s and grows to 2 min. An instance that
// restarted (a rollout, a crash) rejoins the rotation within a fraction of
// a second of serving again, before the next instance is stopped.
var instanceBackoff = backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second}
