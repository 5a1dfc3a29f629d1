package events

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	apievents "github.com/slipway-dev/slipway/api/events"
)

// Header names this package writes on messages, beside Nats-Msg-Id (the event
// id) and the W3C traceparent and tracestate.
const (
	// HeaderContentType is the payload's media type, ContentTypeProtobuf.
	HeaderContentType = "Content-Type"
	// HeaderEventType is the full protobuf name of the payload, such as
	// slipway.order.v1.OrderPlaced.
	HeaderEventType = "Slipway-Event-Type"
	// HeaderDeadLetterReason says why a consumer gave up on a dead-lettered message.
	HeaderDeadLetterReason = "Slipway-Dead-Letter-Reason"
	// HeaderOriginalSubject is the subject a dead-lettered message was first published to.
	HeaderOriginalSubject = "Slipway-Original-Subject"
	// HeaderEventID is the event id of a dead-lettered message. Its Nats-Msg-Id
	// becomes "<durable>:<event id>" so that the dead-letter stream's duplicate
	// window tells apart the same event given up by two consumers.
	HeaderEventID = "Slipway-Event-Id"

	// ContentTypeProtobuf is the media type of every payload Enqueue writes.
	ContentTypeProtobuf = "application/protobuf"
)

// Connection tuning. A client keeps reconnecting for as long as the process
// runs; publishes made while it is away are buffered up to reconnectBufSize
// (the relay does not rely on that: it leaves rows pending instead).
const (
	reconnectWait    = 500 * time.Millisecond
	reconnectJitter  = 250 * time.Millisecond
	reconnectBufSize = 8 << 20
	connectTimeout   = 5 * time.Second
)

// DuplicateWindow is how long a stream remembers a Nats-Msg-Id; a relay
// re-publishing after a crash does so well within it. The inbox retention
// must be longer (see InboxPruner).
const DuplicateWindow = 2 * time.Minute

// ConnectOption configures Connect.
type ConnectOption func(*connectConfig)

type connectConfig struct {
	user, password string
}

// WithCredentials authenticates the connection as the NATS user with
// password; an empty user connects without credentials. The connection's
// reply subjects then start with apievents.InboxPrefix(user), the only inbox
// the broker lets that user subscribe to.
func WithCredentials(user, password string) ConnectOption {
	return func(c *connectConfig) { c.user, c.password = user, password }
}

// Connect connects to the NATS server(s) at url (comma separated for a
// cluster) as name, reconnecting forever after a loss, and returns the
// connection and its JetStream context. Disconnects, reconnects and
// asynchronous errors (a permissions violation among them) are logged on
// logger. It fails when the server refuses the credentials or JetStream is
// not enabled. The caller closes the connection (nc.Drain or Close).
func Connect(ctx context.Context, url, name string, logger *slog.Logger, opts ...ConnectOption) (*nats.Conn, jetstream.JetStream, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var cc connectConfig
	for _, o := range opts {
		o(&cc)
	}
	var auth []nats.Option
	if cc.user != "" {
		auth = append(auth, nats.UserInfo(cc.user, cc.password), nats.CustomInboxPrefix(apievents.InboxPrefix(cc.user)))
	}
	timeout := connectTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	if err := ctx.Err(); err != nil || timeout <= 0 {
		return nil, nil, fmt.Errorf("events: connect to nats %s: %w", redactURL(url), cmp.Or(err, context.DeadlineExceeded))
	}
	nc, err := nats.Connect(url, append(auth,
		nats.Name(name),
		nats.Timeout(timeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(reconnectWait),
		nats.ReconnectJitter(reconnectJitter, reconnectJitter),
		nats.ReconnectBufSize(reconnectBufSize),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				logger.Warn("nats disconnected", "error", err)
			} else {
				logger.Info("nats disconnected")
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			logger.Info("nats reconnected", "server", nc.ConnectedUrlRedacted())
		}),
		nats.ClosedHandler(func(*nats.Conn) { logger.Info("nats connection closed") }),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			attrs := []any{"error", err}
			if sub != nil {
				attrs = append(attrs, "subject", sub.Subject)
			}
			logger.Error("nats asynchronous error", attrs...)
		}))...,
	)
	if err != nil {
		return nil, nil, fmt.Errorf("events: connect to nats %s: %w", redactURL(url), err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("events: jetstream: %w", err)
	}
	if _, err := js.AccountInfo(ctx); err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("events: jetstream on %s: %w", nc.ConnectedUrlRedacted(), err)
	}
	logger.Info("nats connected", "server", nc.ConnectedUrlRedacted(), "name", name)
	return nc, js, nil
}

// EnsureStream creates the stream, or updates it to this config, with file
// storage and a two-minute duplicate window (the window in which a
// re-published Nats-Msg-Id is dropped).
func EnsureStream(ctx context.Context, js jetstream.JetStream, name string, subjects []string) error {
	if name == "" || len(subjects) == 0 {
		return errors.New("events: ensure stream: name and subjects are required")
	}
	_, err := js.CreateOrUpdateStream(ctx, streamConfig(name, subjects))
	if err != nil {
		return fmt.Errorf("events: ensure stream %s: %w", name, err)
	}
	return nil
}

// streamConfig is the configuration of every stream: file storage and the
// duplicate window.
func streamConfig(name string, subjects []string) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:       name,
		Subjects:   subjects,
		Storage:    jetstream.FileStorage,
		Duplicates: DuplicateWindow,
	}
}

// Check returns a readiness check that fails while nc is not connected (it
// is reconnecting, or closed).
func Check(nc *nats.Conn) func(context.Context) error {
	return func(context.Context) error {
		if nc == nil {
			return errors.New("events: no nats connection")
		}
		if s := nc.Status(); s != nats.CONNECTED {
			return fmt.Errorf("events: nats connection is %s", s)
		}
		return nil
	}
}

// redactURL masks passwords and tokens in a (comma separated) server list.
func redactURL(url string) string {
	parts := strings.Split(url, ",")
	for i, p := range parts {
		if at := strings.LastIndex(p, "@"); at >= 0 {
			scheme, _, ok := strings.Cut(p, "://")
			if ok {
				parts[i] = scheme + "://***@" + p[at+1:]
			} else {
				parts[i] = "***@" + p[at+1:]
			}
		}
	}
	return strings.Join(parts, ",")
}

// headerCarrier lets the W3C propagator read and write NATS headers. NATS
// header names are case sensitive; Get also accepts another case, since a
// foreign producer may have written Traceparent.
type headerCarrier nats.Header

func (c headerCarrier) Get(key string) string {
	if v := nats.Header(c).Get(key); v != "" {
		return v
	}
	for k, v := range c {
		if strings.EqualFold(k, key) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

func (c headerCarrier) Set(key, value string) { nats.Header(c).Set(key, value) }

func (c headerCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}
