// Package kafka is the Kafka side of the event port: a publisher, topic
// administration and a consumer-group consumer on franz-go, with the
// semantics platform/events gives on NATS JetStream, so that the outbox
// relay and the inbox consumer can run on either broker.
//
// Publisher: idempotent writes (franz-go's default, never disabled) with
// acks=all, and Publish returns only after every in-sync replica has the
// record, so the relay marks an outbox row sent only after the ack. The
// record key is the ordering key and the W3C trace context of ctx goes into
// the record headers.
//
// EnsureTopics creates each topic, and its "<topic>.dlq" dead-letter topic,
// with the partitions and replication factor of the configuration; a topic
// that exists is fine, one with another partition count is an error.
//
// Consumer: a member of a consumer group that commits offsets by hand, and a
// record's offset only after the handler returned nil for it. A crash
// between the handler (the inbox transaction, in the event port) and the
// commit delivers the record again and the inbox absorbs it; committing
// first would lose the record instead (the tests show both). A failed
// handler is retried in place with a growing delay; after MaxAttempts
// failures the record goes to "<topic>.dlq" with the reason, the consumer
// group and its original topic, partition and offset in headers, and is
// committed. When a rebalance revokes partitions, what was handled on them
// is committed before the next owner starts. The handler's context carries
// a consumer span that continues the producer's trace.
//
// # Ordering
//
// Events of one key are handled in the order they were published; nothing
// is promised across keys. Why it holds: a keyed record goes to
// murmur2(key) mod partitions (the Java client's choice too), so one key
// lives in one partition; the idempotent producer's sequence numbers keep a
// partition's records in produce order even with retries and five requests
// in flight; the relay publishes outbox rows in id order, one at a time; and
// the consumer handles a partition in offset order, a failing record holding
// its partition until it succeeds or is dead-lettered. So the key of an
// order event must be the order id: the event id, a fresh UUID per event,
// would spread one order's placed and cancelled events over partitions. And
// one topic per JetStream stream (ORDERS), not per subject, keeps the
// different event types of one order in one partition. Adding partitions
// re-maps keys, which is why EnsureTopics refuses to.
//
// Duplicates: the idempotent producer drops a batch re-sent within one
// producer session, but a relay that crashes between the ack and marking
// the row sent publishes the row again in a new session. JetStream's
// duplicate window drops that copy; on Kafka it reaches the consumer, whose
// inbox (keyed by the event id header) absorbs it.
//
// # The event port (next step)
//
// platform/events is written against JetStream today. The port it needs,
// with this package and the existing code as its two implementations:
//
//	// Header is an event's headers, a propagation.TextMapCarrier.
//	type Header map[string]string
//
//	// Publisher publishes one event and returns after the broker's ack.
//	// key is the ordering key (an order's id); id the event id, which the
//	// JetStream backend sends as Nats-Msg-Id and this one as a header.
//	type Publisher interface {
//		Publish(ctx context.Context, subject, key, id string, data []byte, h Header) error
//	}
//
//	// Subscriber runs h for each event of subjects as the durable group,
//	// settling (JetStream ack, Kafka offset commit) only after h returned
//	// nil and dead-lettering after MaxAttempts failures, until ctx ends.
//	type Subscriber interface {
//		Subscribe(ctx context.Context, group string, subjects []string, h func(context.Context, Delivery) error) error
//	}
//
// Relay takes a Publisher instead of a jetstream.JetStream; Consumer keeps
// its inbox transaction, schema and signature checks and metrics, and takes
// a Subscriber. EVENTS_URL chooses the backend: nats://host:4222 or
// kafka://broker1:9092,broker2:9092/?partitions=6&replication=3, which
// ParseURL reads into the brokers and the TopicSpec of EnsureTopics. The outbox then needs the
// ordering key beside the subject (an outbox column filled from a new
// Envelope.Key), and the subject maps to its stream's topic.
package kafka
