package workspace

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"syscall"
)

// Endpoint is one address a service will listen on.
type Endpoint struct {
	Service string
	Kind    string // "gRPC" or "HTTP"
	Addr    string // host:port
}

func (e Endpoint) String() string { return e.Service + " " + e.Kind }

// CheckPortsFree makes sure every endpoint can be bound now, by binding and
// releasing it, and that no two endpoints share an address. The error names
// every port that is taken and the service that needs it.
func CheckPortsFree(eps []Endpoint) error {
	var errs []error
	seen := make(map[string]Endpoint, len(eps))
	for _, ep := range eps {
		_, port, err := net.SplitHostPort(ep.Addr)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s address %q: %w", ep, ep.Addr, err))
			continue
		}
		if prev, dup := seen[ep.Addr]; dup {
			errs = append(errs, fmt.Errorf("port %s is wanted by both %s and %s (%s)", port, prev, ep, ep.Addr))
			continue
		}
		seen[ep.Addr] = ep
		ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", ep.Addr)
		if err != nil {
			what := "cannot be bound"
			if errors.Is(err, syscall.EADDRINUSE) {
				what = "is already in use"
			}
			errs = append(errs, fmt.Errorf("port %s for %s (%s) %s: %w", port, ep, ep.Addr, what, err))
			continue
		}
		_ = ln.Close()
	}
	return errors.Join(errs...)
}

// FreePortBlock returns a port p such that p .. p+n-1 are free now and
// do not overlap the blocks of n ports that start at avoid.
func FreePortBlock(n int, avoid []int) (int, error) {
	for range 100 {
		ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		base := ln.Addr().(*net.TCPAddr).Port
		_ = ln.Close()
		if base+n > 65535 || slices.ContainsFunc(avoid, func(a int) bool { return base < a+n && a < base+n }) {
			continue
		}
		var eps []Endpoint
		for i := range n {
			eps = append(eps, Endpoint{"bench", "TCP", "127.0.0.1:" + strconv.Itoa(base+i)})
		}
		if CheckPortsFree(eps) == nil {
			return base, nil
		}
	}
	return 0, fmt.Errorf("found no %d consecutive free ports", n)
}

// DialAddr turns a listen address into one a client can dial: an empty or
// wildcard host (":50051", "0.0.0.0:50051", "[::]:50051") becomes 127.0.0.1.
func DialAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("address %q: %w", addr, err)
	}
	if port == "" {
		return "", fmt.Errorf("address %q has no port", addr)
	}
	switch host {
	case "", "0.0.0.0", "::":
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}
