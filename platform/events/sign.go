package events

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Headers of a signed event.
const (
	// HeaderProducer names the service that published the event.
	HeaderProducer = "Slipway-Producer"
	// HeaderSignature is the producer's Ed25519 signature (standard base64)
	// over the event's subject, id, type, producer and payload.
	HeaderSignature = "Slipway-Signature"
)

// signingContext makes an event signature mean nothing anywhere else.
const signingContext = "slipway-event-signature-v1"

// signedBytes is what a producer signs: each field length-prefixed, so that
// no two different events sign the same bytes. The subject and the id are
// in it, so a signed event cannot be replayed onto another subject or under
// another id (the inbox stops the same id).
func signedBytes(subject, id, eventType, producer string, payload []byte) []byte {
	var b []byte
	for _, f := range [][]byte{[]byte(signingContext), []byte(subject), []byte(id), []byte(eventType), []byte(producer), payload} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f))) //nolint:gosec // NATS payloads are far below 4 GiB
		b = append(b, f...)
	}
	return b
}

// sign sets the producer and signature headers of m, which already carries
// its Nats-Msg-Id and Slipway-Event-Type.
func sign(m *nats.Msg, producer string, key ed25519.PrivateKey) {
	if m.Header == nil {
		m.Header = nats.Header{}
	}
	m.Header.Set(HeaderProducer, producer)
	sig := ed25519.Sign(key, signedBytes(m.Subject, m.Header.Get(jetstream.MsgIDHeader), m.Header.Get(HeaderEventType), producer, m.Data))
	m.Header.Set(HeaderSignature, base64.StdEncoding.EncodeToString(sig))
}

// verify checks that m was signed by producer with one of keys.
func verify(m Message, producer string, keys []ed25519.PublicKey) error {
	if got := m.Header.Get(HeaderProducer); got != producer {
		return fmt.Errorf("%s is %q, want %q, the producer of %s", HeaderProducer, got, producer, m.Subject)
	}
	raw := m.Header.Get(HeaderSignature)
	if raw == "" {
		return fmt.Errorf("no %s", HeaderSignature)
	}
	sig, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("%s is not a base64 Ed25519 signature", HeaderSignature)
	}
	// m.ID falls back to "<stream>:<seq>" without a Nats-Msg-Id; sign what was sent.
	signed := signedBytes(m.Subject, m.Header.Get(jetstream.MsgIDHeader), m.Header.Get(HeaderEventType), producer, m.Data)
	for _, k := range keys {
		if ed25519.Verify(k, signed, sig) {
			return nil
		}
	}
	return fmt.Errorf("the signature does not verify with any key of %s", producer)
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
	sign(m, s.producer, s.key)
	return s.JetStream.PublishMsg(ctx, m, opts...)
}

func (s signingJetStream) PublishAsync(subject string, data []byte, opts ...jetstream.PublishOpt) (jetstream.PubAckFuture, error) {
	return s.PublishMsgAsync(&nats.Msg{Subject: subject, Data: data}, opts...)
}

func (s signingJetStream) PublishMsgAsync(m *nats.Msg, opts ...jetstream.PublishOpt) (jetstream.PubAckFuture, error) {
	sign(m, s.producer, s.key)
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
