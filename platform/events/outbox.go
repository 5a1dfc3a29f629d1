package events

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/protobuf/proto"
)

// Envelope is one event to publish: ID is its unique, stable id (it becomes
// the Nats-Msg-Id and the consumer's inbox key), Subject the NATS subject and
// Payload the protobuf message.
type Envelope struct {
	ID, Subject string
	Payload     proto.Message
}

// traceContext is the W3C traceparent/tracestate propagator. Baggage is not
// stored: an event outlives the request, and its baggage is the request's.
var traceContext = propagation.TraceContext{}

// Enqueue writes an event into the outbox inside the caller's transaction,
// with the W3C trace context of ctx, so the event commits if and only if the
// business change does. A second event with the same ID fails the insert
// (store.IsUniqueViolation reports it). Call Relay.Notify after the commit
// to publish it without waiting for the next poll.
func Enqueue(ctx context.Context, tx *sql.Tx, e Envelope) error {
	if tx == nil {
		return errors.New("events: enqueue: nil transaction")
	}
	row, err := NewOutboxRow(ctx, e)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx,
		"INSERT INTO outbox (event_id, subject, payload, headers) VALUES ($1, $2, $3, $4)",
		row.EventID, row.Subject, row.Payload, row.Headers); err != nil {
		return fmt.Errorf("events: enqueue %s: %w", e.ID, err)
	}
	return nil
}

// OutboxRow is an event as the outbox stores it: the values of the
// outbox's event_id, subject, payload and headers columns.
type OutboxRow struct {
	EventID, Subject string
	Payload          []byte
	Headers          string // JSON
}

// NewOutboxRow encodes e as Enqueue stores it, with the W3C trace context
// of ctx, for a store that inserts the outbox row in the same statement as
// the change it belongs to (one round trip to the database for both).
func NewOutboxRow(ctx context.Context, e Envelope) (OutboxRow, error) {
	if e.ID == "" || e.Subject == "" || e.Payload == nil {
		return OutboxRow{}, fmt.Errorf("events: enqueue %q to %q: id, subject and payload are required", e.ID, e.Subject)
	}
	payload, err := proto.Marshal(e.Payload)
	if err != nil {
		return OutboxRow{}, fmt.Errorf("events: enqueue %s: marshal %s: %w", e.ID, proto.MessageName(e.Payload), err)
	}
	headers := propagation.MapCarrier{}
	traceContext.Inject(ctx, headers)
	headers[HeaderContentType] = ContentTypeProtobuf
	headers[HeaderEventType] = string(proto.MessageName(e.Payload))
	hj, err := json.Marshal(headers)
	if err != nil {
		return OutboxRow{}, fmt.Errorf("events: enqueue %s: headers: %w", e.ID, err)
	}
	return OutboxRow{EventID: e.ID, Subject: e.Subject, Payload: payload, Headers: string(hj)}, nil
}
