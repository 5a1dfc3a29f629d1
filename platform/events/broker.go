package events

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Stream is a JetStream stream a service needs and its subject filter.
type Stream struct {
	Name, Subjects string
}

// Broker is a service's NATS connection and its JetStream context.
type Broker struct {
	Conn *nats.Conn
	// JS signs what it publishes when the service has a signing key.
	JS jetstream.JetStream
	// ProducerKeys are the keys the service's consumers verify events
	// with, by producer (nil: they do not check signatures).
	ProducerKeys map[string][]ed25519.PublicKey
}

// BrokerConfig says how a service connects to NATS and which streams it
// sets up there.
type BrokerConfig struct {
	// URL is the server list (comma separated for a cluster); Name names
	// the connection in the server's monitoring.
	URL, Name string
	// User and Password authenticate the connection (NATS_USER,
	// NATS_PASSWORD); an empty User connects without credentials.
	User, Password string
	// Owns are the streams the service owns: created, or updated to this
	// config, at connect. Its NATS user needs STREAM.CREATE and UPDATE.
	Owns []Stream
	// Reads are streams the service consumes but does not own: created when
	// absent, so it can start before their owner, and never changed. Its
	// NATS user needs STREAM.INFO and CREATE only.
	Reads []Stream
	// SigningKey, when set, signs every message the service publishes
	// through Broker.JS as producer Name (EVENTS_SIGNING_KEY).
	SigningKey ed25519.PrivateKey
	// ProducerKeys, when set, are the producers' public keys its consumers
	// verify signatures with (EVENTS_PRODUCER_KEYS).
	ProducerKeys map[string][]ed25519.PublicKey
}

// OpenBroker connects as cfg says and makes sure its streams exist, so a
// service can start before any producer has published. The cleanup closes
// the connection; run it after the relay and consumers have stopped.
func OpenBroker(ctx context.Context, cfg BrokerConfig, logger *slog.Logger) (*Broker, func(), error) {
	nc, js, err := Connect(ctx, cfg.URL, cfg.Name, logger, WithCredentials(cfg.User, cfg.Password))
	if err != nil {
		return nil, nil, err
	}
	for _, s := range cfg.Owns {
		if err := EnsureStream(ctx, js, s.Name, []string{s.Subjects}); err != nil {
			nc.Close()
			return nil, nil, err
		}
	}
	for _, s := range cfg.Reads {
		if err := createStreamIfAbsent(ctx, js, s); err != nil {
			nc.Close()
			return nil, nil, err
		}
	}
	b := &Broker{Conn: nc, JS: js, ProducerKeys: cfg.ProducerKeys}
	if cfg.SigningKey != nil {
		b.JS = signingJetStream{JetStream: js, producer: cfg.Name, key: cfg.SigningKey}
	}
	return b, nc.Close, nil
}

// createStreamIfAbsent creates s with the config EnsureStream gives it when
// the server has no stream of that name, and leaves an existing one as it is.
func createStreamIfAbsent(ctx context.Context, js jetstream.JetStream, s Stream) error {
	_, err := js.Stream(ctx, s.Name)
	if err == nil {
		return nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("events: look up stream %s: %w", s.Name, err)
	}
	_, err = js.CreateStream(ctx, streamConfig(s.Name, []string{s.Subjects}))
	if err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return fmt.Errorf("events: create stream %s: %w", s.Name, err)
	}
	return nil
}

// CheckURL returns why s is not a comma separated list of NATS server URLs
// (nats://, tls://, ws:// or wss:// with a host), or "" when it is.
func CheckURL(s string) string {
	if strings.TrimSpace(s) == "" {
		return "must not be empty"
	}
	for part := range strings.SplitSeq(s, ",") {
		u, err := url.Parse(strings.TrimSpace(part))
		if err != nil || u.Host == "" {
			return "want nats://host:port (comma separated for a cluster)"
		}
		switch u.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			return "want nats://host:port (comma separated for a cluster)"
		}
	}
	return ""
}

// CheckCredentials returns the variable (NATS_USER or NATS_PASSWORD) and
// why user and password cannot authenticate to NATS, or two empty strings
// when they can. Both empty is fine: a broker without users.
func CheckCredentials(user, password string) (key, reason string) {
	switch {
	case user == "" && password == "":
		return "", ""
	case user == "":
		return "NATS_USER", "must be set when NATS_PASSWORD is"
	case password == "":
		return "NATS_PASSWORD", "must be set when NATS_USER is"
	case strings.ContainsAny(user, " \t\r\n.*>"):
		return "NATS_USER", "want a user name without spaces, '.', '*' or '>' (it becomes the inbox prefix _INBOX.<user>)"
	}
	return "", ""
}

// MaskURL hides the credentials of NATS URLs, for error messages.
func MaskURL(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			u.User = url.User("xxxxx")
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}
