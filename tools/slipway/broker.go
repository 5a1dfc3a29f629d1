package main

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	apievents "github.com/slipway-dev/slipway/api/events"
)

// broker is the NATS JetStream server slipway dev embeds, so a fresh laptop
// runs the event flow with nothing installed. Its streams live under
// .slipway/nats and survive restarts of dev.
type broker struct {
	srv *server.Server
	url string
	// passwords holds each service's NATS password when the broker has
	// users (withServiceUsers); empty otherwise.
	passwords map[string]string
}

// brokerOption configures startBroker.
type brokerOption func(*server.Options, *broker) error

// withServiceUsers makes the broker accept only the shop's services, each
// as its own NATS user with the permissions of events.Accesses (api/events)
// and a password made afresh for this session and kept in memory only.
// Credentials gives each service its own.
func withServiceUsers() brokerOption {
	return func(o *server.Options, b *broker) error {
		b.passwords = map[string]string{}
		for _, a := range apievents.Accesses {
			pw, err := devSecret()
			if err != nil {
				return fmt.Errorf("embedded NATS: password of %s: %w", a.User, err)
			}
			b.passwords[a.User] = pw
			pub, sub := a.Permissions()
			o.Users = append(o.Users, &server.User{
				Username: a.User,
				Password: pw,
				Permissions: &server.Permissions{
					Publish:   &server.SubjectPermission{Allow: pub},
					Subscribe: &server.SubjectPermission{Allow: sub},
				},
			})
		}
		return nil
	}
}

// startBroker starts JetStream on host:port (port 0 picks a free one).
func startBroker(root, host string, port int, opts ...brokerOption) (*broker, error) {
	if port == 0 {
		port = server.RANDOM_PORT
	}
	o := &server.Options{
		ServerName: "slipway-dev",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   filepath.Join(root, ".slipway", "nats"),
		NoSigs:     true, // dev owns the signals; it stops the broker after the services
		NoLog:      true,
	}
	b := &broker{}
	for _, opt := range opts {
		if err := opt(o, b); err != nil {
			return nil, err
		}
	}
	srv, err := server.NewServer(o)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("embedded NATS did not accept connections within 10s (port %d busy?)", port)
	}
	addr, ok := srv.Addr().(*net.TCPAddr)
	if !ok {
		srv.Shutdown()
		return nil, fmt.Errorf("embedded NATS: unexpected listener %v", srv.Addr())
	}
	dial := host
	if dial == "" || dial == "0.0.0.0" || dial == "::" {
		dial = "127.0.0.1"
	}
	b.srv, b.url = srv, "nats://"+net.JoinHostPort(dial, strconv.Itoa(addr.Port))
	return b, nil
}

// URL is what services put in NATS_URL. It carries no credentials.
func (b *broker) URL() string { return b.url }

// Credentials returns environ with svc's NATS_USER and NATS_PASSWORD when
// the broker has users and svc is one of them; any other service's
// credentials never reach it.
func (b *broker) Credentials(environ []string, svc string) []string {
	pw, ok := b.passwords[svc]
	if !ok {
		return environ
	}
	return setEnv(setEnv(environ, "NATS_USER", svc), "NATS_PASSWORD", pw)
}

// Stop shuts the broker down and waits for it, flushing JetStream to disk.
func (b *broker) Stop() {
	b.srv.Shutdown()
	b.srv.WaitForShutdown()
}
