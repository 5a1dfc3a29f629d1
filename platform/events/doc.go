// Package events carries domain events between services over NATS JetStream
// with a transactional outbox on the producer side and an idempotent
// consumer on the other, so that an event is published if and only if the
// business change that raised it commits, and its effect happens once even
// though JetStream delivers at least once.
//
// Producer: EnsureSchema at start, Enqueue inside the business transaction,
// and a Relay that publishes pending rows in id order with Nats-Msg-Id set to
// the event id, so a re-publish after a crash is dropped by the stream's
// duplicate window. Consumer: a durable pull consumer whose Handler runs in a
// transaction that also records the event id in the inbox table; a
// redelivered event finds its id there and is acknowledged without running
// the handler again. After MaxDeliver failed deliveries the message goes to a
// dead-letter subject.
//
// The W3C trace context of the producer's request travels in the outbox row
// and the message headers, so one trace runs from the API call through the
// relay to the handler.
package events
