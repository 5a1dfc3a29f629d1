package events

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
)

// HeaderRejection names the check a rejected, dead-lettered message failed:
// RejectedSchema or RejectedAuthentication.
const HeaderRejection = "Slipway-Rejected"

// The checks a consumer runs before its handler.
const (
	// RejectedSchema: unknown subject, wrong type, undecodable payload, or
	// a payload that breaks its protovalidate rules.
	RejectedSchema = "schema"
	// RejectedAuthentication: the message does not prove that the subject's
	// producer sent it.
	RejectedAuthentication = "authentication"
)

// rejection is why a message failed one of the consumer's checks.
type rejection struct {
	check, reason string
}

func (r *rejection) Error() string { return r.check + " check failed: " + r.reason }

// check runs the authentication check of m when the consumer has producer
// keys, then the schema check when it has schemas.
func (c *Consumer) check(m Message) error {
	if c.cfg.ProducerKeys != nil {
		producer, ok := c.cfg.Producers[m.Subject]
		if !ok {
			return &rejection{check: RejectedAuthentication, reason: fmt.Sprintf("subject %q has no known producer", m.Subject)}
		}
		if err := verify(m, producer, c.cfg.ProducerKeys[producer], c.now(), c.cfg.MaxEventAge); err != nil {
			return &rejection{check: RejectedAuthentication, reason: err.Error()}
		}
	}
	if c.cfg.Schemas == nil {
		return nil
	}
	schemaErr := func(format string, args ...any) error {
		return &rejection{check: RejectedSchema, reason: fmt.Sprintf(format, args...)}
	}
	typ, ok := c.cfg.Schemas[m.Subject]
	if !ok {
		return schemaErr("subject %q carries no event this consumer knows", m.Subject)
	}
	want := string(proto.MessageName(typ))
	if got := m.Header.Get(HeaderEventType); got != want {
		return schemaErr("%s is %q, want %q for subject %s", HeaderEventType, got, want, m.Subject)
	}
	if ct := m.Header.Get(HeaderContentType); ct != "" && ct != ContentTypeProtobuf {
		return schemaErr("%s is %q, want %q", HeaderContentType, ct, ContentTypeProtobuf)
	}
	msg := typ.ProtoReflect().Type().New().Interface()
	if err := proto.Unmarshal(m.Data, msg); err != nil {
		return schemaErr("payload is not a %s: %v", want, err)
	}
	if err := c.validator.Validate(msg); err != nil {
		return schemaErr("payload breaks the rules of %s: %v", want, err)
	}
	return nil
}

// reject dead-letters a message that failed a check, with the reason and
// the check's name in its headers, and terminates it: no retries, since the
// same bytes fail the same way. When the dead-letter publish fails the
// message is retried, and checked again.
func (c *Consumer) reject(ctx context.Context, jm jetstream.Msg, m Message, cause error) {
	check := RejectedSchema
	var r *rejection
	if errors.As(cause, &r) {
		check = r.check
	}
	reason := fmt.Sprintf("consumer %s rejected the event: %v", c.cfg.Durable, cause)
	if err := c.publishDeadLetter(ctx, m, reason, nats.Header{HeaderRejection: {check}}); err != nil {
		c.logger.ErrorContext(ctx, "events consumer: dead-lettering a rejected event failed, will retry",
			"event_id", m.ID, "dead_letter_subject", c.cfg.DeadLetterSubject, "error", err)
		c.retry(ctx, jm, m, fmt.Errorf("%w (dead-lettering failed: %w)", cause, err))
		return
	}
	if err := jm.Term(); err != nil {
		c.logger.WarnContext(ctx, "events consumer: term after rejecting failed", "event_id", m.ID, "error", err)
	}
	c.rejected.Inc()
	c.logger.WarnContext(ctx, "events consumer: event rejected and dead-lettered",
		"event_id", m.ID, "subject", m.Subject, "check", check,
		"dead_letter_subject", c.cfg.DeadLetterSubject, "error", cause)
}
