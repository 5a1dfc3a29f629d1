package events

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

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
	// MaxEventAge is the oldest signed event its consumers accept
	// (ConsumerConfig.MaxEventAge), from BrokerConfig.InboxRetention.
	MaxEventAge time.Duration
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
	// Reads are streams the service writes to but does not own (the
	// dead-letter stream): created with their fixed config when absent, and
	// never changed. Its NATS user needs STREAM.INFO and CREATE only. A
	// stream it only consumes is in neither list: its durable consumer
	// waits, retrying in the background, until the owner has created it.
	Reads []Stream
	// SigningKey, when set, signs every message the service publishes
	// through Broker.JS as producer Name (EVENTS_SIGNING_KEY).
	SigningKey ed25519.PrivateKey
	// ProducerKeys, when set, are the producers' public keys its consumers
	// verify signatures with (EVENTS_PRODUCER_KEYS).
	ProducerKeys map[string][]ed25519.PublicKey
	// InboxRetention is how long the service's consumers keep event ids
	// (INBOX_RETENTION); a signed event older than MaxEventAge of it is
	// refused as a possible replay. Default DefaultInboxRetention.
	InboxRetention time.Duration
	// Consumes says that the service consumes events, and Produces that it
	// publishes them: without credentials, producer keys or a signing key,
	// OpenBroker then warns that its events are unauthenticated.
	Consumes, Produces bool
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
	warnUnauthenticated(ctx, cfg, logger)
	retention := cfg.InboxRetention
	if retention <= 0 {
		retention = DefaultInboxRetention
	}
	b := &Broker{Conn: nc, JS: js, ProducerKeys: cfg.ProducerKeys, MaxEventAge: MaxEventAge(retention)}
	if cfg.SigningKey != nil {
		b.JS = signingJetStream{JetStream: js, producer: cfg.Name, key: cfg.SigningKey}
	}
	return b, nc.Close, nil
}

// warnUnauthenticated logs, at start, what leaves the service's events
// open to forgery: a broker without credentials (a plain local broker, which
// anyone who reaches it may publish to), a consumer without producer keys, a
// producer without a signing key. Config validation refuses the last two
// when NATS credentials are set, so they stay a development setting.
func warnUnauthenticated(ctx context.Context, cfg BrokerConfig, logger *slog.Logger) {
	if logger == nil {
		return
	}
	if cfg.User == "" {
		logger.WarnContext(ctx, "events: NATS connection has no credentials (NATS_USER empty): anyone who can reach the broker can publish and read events; set NATS_USER and NATS_PASSWORD outside local development")
	}
	if cfg.Consumes && cfg.ProducerKeys == nil {
		logger.WarnContext(ctx, "events: event signatures are not checked (EVENTS_PRODUCER_KEYS empty): consumed events are unauthenticated")
	}
	if cfg.Produces && cfg.SigningKey == nil {
		logger.WarnContext(ctx, "events: events are published unsigned (EVENTS_SIGNING_KEY empty): consumers that check signatures will reject them")
	}
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
