package fleet

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	apievents "github.com/slipway-dev/slipway/api/events"
	"github.com/slipway-dev/slipway/platform/events"
	"github.com/slipway-dev/slipway/tools/slipway/internal/envvar"
)

// Broker is the NATS JetStream server slipway dev embeds, so a fresh laptop
// runs the event flow with nothing installed. Its streams live under
// .slipway/nats and survive restarts of dev.
type Broker struct {
	srv *server.Server
	url string
	// passwords holds each service's NATS password when the broker has
	// users (WithServiceUsers); empty otherwise.
	passwords map[string]string
	// eventKey signs order's events (WithEventSigning); nil otherwise.
	eventKey ed25519.PrivateKey
}

// brokerOption configures StartBroker.
type brokerOption func(*server.Options, *Broker) error

// WithServiceUsers makes the broker accept only the shop's services, each
// as its own NATS user with the permissions of events.Accesses (api/events)
// and a password made afresh for this session and kept in memory only.
// Credentials gives each service its own.
func WithServiceUsers() brokerOption {
	return func(o *server.Options, b *Broker) error {
		b.passwords = map[string]string{}
		for _, a := range apievents.Accesses {
			pw, err := Secret()
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

// WithEventSigning gives order the Ed25519 key it signs its events with, and
// the consumers its public key, through Credentials. The key lives in
// keyFile (created 0600 when absent, like dev's JWT signing key), so events
// signed before a restart of dev still verify after it.
func WithEventSigning(keyFile string) brokerOption {
	return func(_ *server.Options, b *Broker) error {
		raw, err := os.ReadFile(keyFile) //nolint:gosec // dev's own state directory
		if errors.Is(err, fs.ErrNotExist) {
			_, key, gerr := ed25519.GenerateKey(rand.Reader)
			if gerr != nil {
				return fmt.Errorf("event signing key: %w", gerr)
			}
			raw = []byte(events.EncodeKey(key) + "\n")
			if err = os.MkdirAll(filepath.Dir(keyFile), 0o700); err == nil {
				err = os.WriteFile(keyFile, raw, 0o600)
			}
		}
		if err != nil {
			return fmt.Errorf("event signing key: %w", err)
		}
		key, err := events.ParseSigningKey(string(raw))
		if err == nil && key == nil {
			err = errors.New("the file is empty")
		}
		if err != nil {
			return fmt.Errorf("event signing key %s: %w (delete it to make a new one)", keyFile, err)
		}
		b.eventKey = key
		return nil
	}
}

// StartBroker starts JetStream on host:port (port 0 picks a free one).
func StartBroker(root, host string, port int, opts ...brokerOption) (*Broker, error) {
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
	b := &Broker{}
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
func (b *Broker) URL() string { return b.url }

// Credentials returns environ with svc's NATS_USER and NATS_PASSWORD when
// the broker has users and svc is one of them, and with the event signing
// key when svc produces events (EVENTS_SIGNING_KEY) or its public key when
// svc consumes them (EVENTS_PRODUCER_KEYS); any other service's secrets
// never reach it. svc may name an instance (order-2): it gets its service's.
func (b *Broker) Credentials(environ []string, svc string) []string {
	svc = ServiceOf(svc) // every instance of a service is that service to the broker
	a, ok := apievents.AccessOf(svc)
	if !ok {
		return environ
	}
	if pw, ok := b.passwords[svc]; ok {
		environ = envvar.Set(envvar.Set(environ, "NATS_USER", svc), "NATS_PASSWORD", pw)
	}
	if b.eventKey == nil {
		return environ
	}
	if len(a.Publishes) > 0 {
		environ = envvar.Set(environ, "EVENTS_SIGNING_KEY", events.EncodeKey(b.eventKey))
	}
	if len(a.Consumes) > 0 {
		environ = envvar.Set(environ, "EVENTS_PRODUCER_KEYS", apievents.ServiceOrder+":"+events.EncodeKey(b.eventKey.Public().(ed25519.PublicKey)))
	}
	return environ
}

// Stop shuts the broker down and waits for it, flushing JetStream to disk.
func (b *Broker) Stop() {
	b.srv.Shutdown()
	b.srv.WaitForShutdown()
}
