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
//
// Authenticated events, in three layers. The broker: each service connects
// as its own NATS user (BrokerConfig.User, Password) whose permissions
// (events.Accesses in api/events) let only the producer publish its
// subjects, so a forged publish is refused at the server. The signature:
// with BrokerConfig.SigningKey the producer's Broker.JS signs every event
// (Ed25519 over subject, id, type, producer and payload), and a consumer
// with ProducerKeys rejects any event its subject's producer did not sign,
// so a stolen NATS password is not enough. The schema: a consumer with
// Schemas rejects an unknown subject, another type, an undecodable payload or
// one that breaks its protovalidate rules. A rejected event is dead-lettered
// at once with the reason (Slipway-Dead-Letter-Reason, Slipway-Rejected),
// never handled and never recorded in the inbox.
//
// Consumer.PruneInbox deletes inbox rows older than a retention longer than
// the stream's duplicate window, in bounded batches.
package events
