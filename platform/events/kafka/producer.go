package kafka

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ClientConfig is what every client of the cluster needs.
type ClientConfig struct {
	// Brokers are the seed brokers, host:port; the client discovers the rest.
	Brokers []string
	// ClientID names the client to the brokers (their logs and quotas).
	ClientID string
}

func (c ClientConfig) opts() ([]kgo.Opt, error) {
	if len(c.Brokers) == 0 {
		return nil, errors.New("no brokers given")
	}
	for _, b := range c.Brokers {
		if strings.TrimSpace(b) == "" {
			return nil, fmt.Errorf("empty broker address in %q", c.Brokers)
		}
	}
	opts := []kgo.Opt{kgo.SeedBrokers(c.Brokers...)}
	if c.ClientID != "" {
		opts = append(opts, kgo.ClientID(c.ClientID))
	}
	return opts, nil
}

// producerOpts are the produce settings of every client here, the
// publisher's and the consumer's (for its dead letters).
//
// Idempotent writes are franz-go's default and nothing here disables them
// (there is no option to turn them on, only kgo.DisableIdempotentWrite to
// turn them off): the broker drops a batch the client re-sends after a lost
// response, and with up to five requests in flight per broker the sequence
// numbers keep a partition's records in the order they were produced.
// Idempotence needs acks=all, which is also what makes an ack mean "on every
// in-sync replica", so that a leader lost after the ack loses nothing.
func producerOpts() []kgo.Opt {
	return []kgo.Opt{
		kgo.RequiredAcks(kgo.AllISRAcks()),
		// A keyed record goes to murmur2(key) mod partitions, the partition
		// the Java client picks too: one key, one partition, one order.
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		// The relay publishes one record and waits for its ack; lingering
		// for a batch would only add latency to each.
		kgo.ProducerLinger(0),
	}
}

// Publisher writes records and returns once the brokers have acknowledged
// them, so an outbox relay marks a row sent only after the ack.
type Publisher struct {
	cl *kgo.Client
}

// NewPublisher returns a publisher to the cluster cfg names. It does not
// connect until the first Publish. Close it when done.
func NewPublisher(cfg ClientConfig) (*Publisher, error) {
	opts, err := cfg.opts()
	if err != nil {
		return nil, fmt.Errorf("kafka: new publisher: %w", err)
	}
	cl, err := kgo.NewClient(append(opts, producerOpts()...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka: new publisher: %w", err)
	}
	return &Publisher{cl: cl}, nil
}

// Publish writes value to topic under key, with h and the W3C trace context
// of ctx as headers, and waits until every in-sync replica has it. key is the
// ordering key (an order's id for the order events): the records of one key
// land on one partition in publish order. A trace context already in h is
// replaced by ctx's, so the consumer's span continues the caller's. It fails
// when ctx ends first; the record may then still be written, and publishing
// it again is the caller's retry (the consumer's inbox absorbs the copy).
func (p *Publisher) Publish(ctx context.Context, topic, key string, value []byte, h Header) error {
	if err := validTopic(topic); err != nil {
		return fmt.Errorf("kafka: publish: %w", err)
	}
	if key == "" {
		return fmt.Errorf("kafka: publish to %s: an ordering key is required", topic)
	}
	hdr := make(Header, len(h)+2)
	maps.Copy(hdr, h)
	for _, k := range traceContext.Fields() {
		delete(hdr, k)
	}
	traceContext.Inject(ctx, hdr)
	rec := &kgo.Record{Topic: topic, Key: []byte(key), Value: value, Headers: recordHeaders(hdr)}
	if err := p.cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return fmt.Errorf("kafka: publish to %s: %w", topic, err)
	}
	return nil
}

// Close flushes nothing (every Publish has already waited) and closes the
// connections.
func (p *Publisher) Close() { p.cl.Close() }
