// Package password hashes passwords with Argon2id and encodes the result as
// a PHC string: $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/slipway-dev/slipway/platform/errkind"
	"github.com/slipway-dev/slipway/services/user/internal/domain"
)

// Argon2id is the domain's PasswordHasher; the app builds it with its
// configured queue timeout.
var _ domain.PasswordHasher = (*Argon2id)(nil)

// Params are the Argon2id cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultParams follow the OWASP Password Storage Cheat Sheet: 19 MiB of
// memory, two passes, one lane.
var DefaultParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Bounds on the parameters Verify accepts from a stored hash, so a corrupt
// or planted row cannot make one login allocate gigabytes.
const (
	maxMemory  = 1 << 20 // KiB: 1 GiB
	maxTime    = 16
	maxThreads = 16
	maxKeyLen  = 128
)

// ErrMalformedHash is returned by Verify for a string that is not an
// Argon2id PHC hash it can check.
var ErrMalformedHash = errors.New("malformed argon2id hash")

// Argon2id hashes and verifies passwords.
type Argon2id struct {
	params Params
	// slots bounds concurrent hashes: each holds Params.Memory and a CPU,
	// so a burst of logins queues instead of exhausting memory. A context
	// marked domain.LowPriority waits behind every other.
	slots *slots
	// queueTimeout bounds the wait for a slot (0: the request's deadline),
	// so a flood is refused fast instead of queueing every login behind it.
	queueTimeout time.Duration
	// idle returns the hashes' memory to the OS after a quiet spell; nil
	// leaves it to the runtime.
	idle *idleRelease
}

// Option configures New.
type Option func(*Argon2id)

// WithQueueTimeout makes a hash that found no free slot within d fail with
// an errkind.RetryAfterError (ResourceExhausted) asking to come back after d.
func WithQueueTimeout(d time.Duration) Option { return func(h *Argon2id) { h.queueTimeout = d } }

// WithSlots sets how many hashes run at once (default: GOMAXPROCS, at
// least 2).
func WithSlots(n int) Option { return func(h *Argon2id) { h.slots = newSlots(max(n, 1)) } }

// WithIdleRelease returns the memory the hashes used to the operating
// system once no hash has run for d, so an idle service does not keep
// Params.Memory per recent hash resident until the runtime's next GC.
// A burst of logins pays for it once, d after its last hash.
func WithIdleRelease(d time.Duration) Option {
	return func(h *Argon2id) { h.idle = newIdleRelease(d) }
}

// NewArgon2id returns a hasher with DefaultParams.
func NewArgon2id(opts ...Option) *Argon2id { return New(DefaultParams, opts...) }

// New returns a hasher with p; tests use cheap parameters.
func New(p Params, opts ...Option) *Argon2id {
	h := &Argon2id{params: p, slots: newSlots(max(2, runtime.GOMAXPROCS(0)))}
	for _, opt := range opts {
		opt(h)
	}
	return h
}

// ErrBusy is what a hash that found no free slot in time wraps.
var ErrBusy = errors.New("password hashing is busy")

// Hash returns the PHC string of password with a fresh random salt.
func (h *Argon2id) Hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, h.params.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("salt: %w", err)
	}
	key, err := h.derive(ctx, password, salt, h.params)
	if err != nil {
		return "", err
	}
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, h.params.Memory, h.params.Time, h.params.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify reports whether password matches encoded, comparing in constant
// time with the parameters recorded in encoded.
func (h *Argon2id) Verify(ctx context.Context, password, encoded string) (bool, error) {
	p, salt, want, err := decode(encoded)
	if err != nil {
		return false, err
	}
	got, err := h.derive(ctx, password, salt, p)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// NeedsRehash reports whether encoded was made with other parameters than
// the hasher's, so the caller can upgrade it after a successful login.
func (h *Argon2id) NeedsRehash(encoded string) bool {
	p, salt, key, err := decode(encoded)
	if err != nil {
		return true
	}
	return p.Memory != h.params.Memory || p.Time != h.params.Time || p.Threads != h.params.Threads ||
		uint32(len(salt)) != h.params.SaltLen || uint32(len(key)) != h.params.KeyLen
}

func (h *Argon2id) derive(ctx context.Context, password string, salt []byte, p Params) ([]byte, error) {
	if err := h.acquire(ctx); err != nil {
		return nil, err
	}
	defer h.slots.release()
	h.idle.begin()
	defer h.idle.end()
	return argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen), nil
}

func (h *Argon2id) acquire(ctx context.Context) error {
	var timeout <-chan time.Time
	if h.queueTimeout > 0 {
		t := time.NewTimer(h.queueTimeout)
		defer t.Stop()
		timeout = t.C
	}
	err := h.slots.acquire(ctx, domain.IsLowPriority(ctx), timeout)
	if errors.Is(err, errQueueTimeout) {
		return fmt.Errorf("%w: %w", ErrBusy, errkind.RetryAfter("no hashing slot free", h.queueTimeout))
	}
	return err
}

// decode parses $argon2id$v=19$m=M,t=T,p=P$salt$hash.
func decode(encoded string) (Params, []byte, []byte, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return Params{}, nil, nil, ErrMalformedHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return Params{}, nil, nil, fmt.Errorf("%w: version %q", ErrMalformedHash, parts[2])
	}
	var p Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return Params{}, nil, nil, fmt.Errorf("%w: parameters %q", ErrMalformedHash, parts[3])
	}
	if p.Memory == 0 || p.Memory > maxMemory || p.Time == 0 || p.Time > maxTime ||
		p.Threads == 0 || p.Threads > maxThreads || p.Memory < 8*uint32(p.Threads) {
		return Params{}, nil, nil, fmt.Errorf("%w: parameters %q out of bounds", ErrMalformedHash, parts[3])
	}
	b64 := base64.RawStdEncoding.Strict()
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return Params{}, nil, nil, fmt.Errorf("%w: salt", ErrMalformedHash)
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > maxKeyLen {
		return Params{}, nil, nil, fmt.Errorf("%w: hash", ErrMalformedHash)
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	return p, salt, key, nil
}
