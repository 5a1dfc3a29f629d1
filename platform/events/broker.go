package events

import (
	"context"
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
	JS   jetstream.JetStream
}

// OpenBroker connects to url as name and makes sure every stream exists, so
// a service can start before any producer has published. The cleanup closes
// the connection; run it after the relay and consumers have stopped.
func OpenBroker(ctx context.Context, url, name string, logger *slog.Logger, streams ...Stream) (*Broker, func(), error) {
	nc, js, err := Connect(ctx, url, name, logger)
	if err != nil {
		return nil, nil, err
	}
	for _, s := range streams {
		if err := EnsureStream(ctx, js, s.Name, []string{s.Subjects}); err != nil {
			nc.Close()
			return nil, nil, err
		}
	}
	return &Broker{Conn: nc, JS: js}, nc.Close, nil
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
