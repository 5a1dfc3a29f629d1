package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
)

// endpoint is one address a service will listen on.
type endpoint struct {
	Service string
	Kind    string // "gRPC" or "HTTP"
	Addr    string // host:port
}

func (e endpoint) String() string { return e.Service + " " + e.Kind }

// checkPortsFree makes sure every endpoint can be bound now, by binding and
// releasing it, and that no two endpoints share an address. The error names
// every port that is taken and the service that needs it.
func checkPortsFree(eps []endpoint) error {
	var errs []error
	seen := make(map[string]endpoint, len(eps))
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
