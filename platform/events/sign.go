package events

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Headers of a signed event.
const (
	// HeaderProducer names the service that published the event.
	HeaderProducer = "Slipway-Producer"
	// HeaderSignature is the producer's Ed25519 signature (standard base64)
	// over the event's subject, id, type, producer, signing time and payload.
	HeaderSignature = "Slipway-Signature"
	// HeaderSignedAt is when the producer signed the event (RFC 3339, UTC,
	// nanoseconds); the signature covers it, so consumers can refuse a
	// captured event replayed after its inbox row has been pruned.
	HeaderSignedAt = "Slipway-Signed-At"
)

// signingContext makes an event signature mean nothing anywhere else. v2
// added the signing time.
const signingContext = "slipway-event-signature-v2"

// MaxClockSkew is how far in the future a signed event's time may be: the
// producer's clock may run a little ahead of the consumer's.
const MaxClockSkew = 5 * time.Minute

// ReplayMargin is how much younger than the inbox retention a signed event
// must be to be accepted (MaxEventAge): more than any clock skew between a
// producer and a consumer.
const ReplayMargin = time.Hour

// MaxEventAge is the oldest signed event a consumer whose inbox keeps event
// ids for retention accepts. An inbox row is written when its event is
// processed, after it was signed, and pruned no sooner than retention after
// that; so an event younger than retention - ReplayMargin that comes back
// still finds its row (a duplicate), and an older one is refused. Events
// delayed longer than that (a consumer down for days) are dead-lettered,
// where an operator can see and re-drive them.
func MaxEventAge(retention time.Duration) time.Duration {
	if retention > 2*ReplayMargin {
		return retention - ReplayMargin
	}
	return retention / 2
}

// signedBytes is what a producer signs: each field length-prefixed, so that
// no two different events sign the same bytes. The subject and the id are
// in it, so a signed event cannot be replayed onto another subject or under
// another id (the inbox stops the same id), and so is the signing time, so
// it cannot be replayed once the inbox has forgotten the id (MaxEventAge).
func signedBytes(subject, id, eventType, producer, signedAt string, payload []byte) []byte {
	var b []byte
	for _, f := range [][]byte{[]byte(signingContext), []byte(subject), []byte(id), []byte(eventType), []byte(producer), []byte(signedAt), payload} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f))) //nolint:gosec // NATS payloads are far below 4 GiB
		b = append(b, f...)
	}
	return b
}

// sign sets the producer, signing time and signature headers of m, which
// already carries its Nats-Msg-Id and Slipway-Event-Type, signed at now.
func sign(m *nats.Msg, producer string, key ed25519.PrivateKey, now time.Time) {
	if m.Header == nil {
		m.Header = nats.Header{}
	}
	signedAt := now.UTC().Format(time.RFC3339Nano)
	m.Header.Set(HeaderProducer, producer)
	m.Header.Set(HeaderSignedAt, signedAt)
	sig := ed25519.Sign(key, signedBytes(m.Subject, m.Header.Get(jetstream.MsgIDHeader), m.Header.Get(HeaderEventType), producer, signedAt, m.Data))
	m.Header.Set(HeaderSignature, base64.StdEncoding.EncodeToString(sig))
}

// verify checks that m was signed by producer with one of keys, carries an
// event id, and was signed at most maxAge before now and at most
// MaxClockSkew after it.
func verify(m Message, producer string, keys []ed25519.PublicKey, now time.Time, maxAge time.Duration) error {
	if got := m.Header.Get(HeaderProducer); got != producer {
		return fmt.Errorf("%s is %q, want %q, the producer of %s", HeaderProducer, got, producer, m.Subject)
	}
	id := m.Header.Get(jetstream.MsgIDHeader)
	if id == "" {
		// The inbox dedupes by id: without one a replay would look new.
		return fmt.Errorf("no %s (event id)", jetstream.MsgIDHeader)
	}
	raw := m.Header.Get(HeaderSignature)
	if raw == "" {
		return fmt.Errorf("no %s", HeaderSignature)
	}
	sig, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("%s is not a base64 Ed25519 signature", HeaderSignature)
	}
	signedAt := m.Header.Get(HeaderSignedAt)
	at, err := time.Parse(time.RFC3339Nano, signedAt)
	if err != nil {
		return fmt.Errorf("%s %q is not an RFC 3339 time", HeaderSignedAt, signedAt)
	}
	// Check what was sent: m.ID falls back to "<stream>:<seq>".
	signed := signedBytes(m.Subject, id, m.Header.Get(HeaderEventType), producer, signedAt, m.Data)
	if !slices.ContainsFunc(keys, func(k ed25519.PublicKey) bool { return ed25519.Verify(k, signed, sig) }) {
		return fmt.Errorf("the signature does not verify with any key of %s", producer)
	}
	// Authentic, but a replay once the inbox has forgotten its id, or from
	// a clock far ahead.
	if age := now.Sub(at); age > maxAge {
		return fmt.Errorf("signed at %s, %s ago: older than %s, the most a consumer accepts (a replay once the inbox has forgotten its id)", signedAt, age.Round(time.Second), maxAge)
	} else if -age > MaxClockSkew {
		return fmt.Errorf("signed at %s, %s in the future: more than the allowed clock skew of %s", signedAt, (-age).Round(time.Second), MaxClockSkew)
	}
	return nil
}

// signingJetStream signs every message published through it as producer.
type signingJetStream struct {
	jetstream.JetStream
	producer string
	key      ed25519.PrivateKey
}

func (s signingJetStream) Publish(ctx context.Context, subject string, data []byte, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	return s.PublishMsg(ctx, &nats.Msg{Subject: subject, Data: data}, opts...)
}

func (s signingJetStream) PublishMsg(ctx context.Context, m *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	sign(m, s.producer, s.key, time.Now())
	return s.JetStream.PublishMsg(ctx, m, opts...)
}

func (s signingJetStream) PublishAsync(subject string, data []byte, opts ...jetstream.PublishOpt) (jetstream.PubAckFuture, error) {
	return s.PublishMsgAsync(&nats.Msg{Subject: subject, Data: data}, opts...)
}

func (s signingJetStream) PublishMsgAsync(m *nats.Msg, opts ...jetstream.PublishOpt) (jetstream.PubAckFuture, error) {
	sign(m, s.producer, s.key, time.Now())
	return s.JetStream.PublishMsgAsync(m, opts...)
}

// ParseSigningKey reads an Ed25519 private key given as the standard or
// URL-safe base64 of its 32-byte seed (EVENTS_SIGNING_KEY); "" is no key
// (nil). It never puts the value in its error.
func ParseSigningKey(s string) (ed25519.PrivateKey, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	seed, err := decodeBase64(strings.TrimSpace(s))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, errors.New("want the base64 of a 32-byte Ed25519 seed")
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// ParseProducerKeys reads EVENTS_PRODUCER_KEYS: comma separated
// producer:<base64 Ed25519 public key> entries. A producer may have several
// keys, so that a rotation accepts events signed before it. "" is no keys
// (nil: no signature check).
func ParseProducerKeys(s string) (map[string][]ed25519.PublicKey, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	keys := map[string][]ed25519.PublicKey{}
	for entry := range strings.SplitSeq(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		producer, raw, ok := strings.Cut(entry, ":")
		if !ok || producer == "" {
			return nil, fmt.Errorf("entry %q: want producer:<base64 public key>", entry)
		}
		k, err := decodeBase64(raw)
		if err != nil || len(k) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("entry %q: want the base64 of a 32-byte Ed25519 public key", entry)
		}
		keys[producer] = append(keys[producer], ed25519.PublicKey(k))
	}
	if len(keys) == 0 {
		return nil, errors.New("want producer:<base64 public key> entries")
	}
	return keys, nil
}

// EncodeKey is the base64 form ParseSigningKey and ParseProducerKeys read:
// of a private key's seed, or of a public key.
func EncodeKey[K ed25519.PrivateKey | ed25519.PublicKey](k K) string {
	if priv, ok := any(k).(ed25519.PrivateKey); ok {
		return base64.StdEncoding.EncodeToString(priv.Seed())
	}
	return base64.StdEncoding.EncodeToString(k)
}

func decodeBase64(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

// CheckProducerKeys returns why s cannot be EVENTS_PRODUCER_KEYS for
// consumers of events from producers, or "". Empty is fine: no signature
// check.
func CheckProducerKeys(s string, producers ...string) string {
	keys, err := ParseProducerKeys(s)
	if err != nil {
		return err.Error()
	}
	for _, p := range producers {
		if keys == nil {
			break
		}
		if len(keys[p]) == 0 {
			return fmt.Sprintf("no key of producer %q", p)
		}
	}
	return ""
}
