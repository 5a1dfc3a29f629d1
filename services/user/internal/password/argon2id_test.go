package password

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/errkind"
)

// cheap keeps the tests fast; the format and checks are the same.
var cheap = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashVerify(t *testing.T) {
	ctx := t.Context()
	h := New(cheap)

	encoded, err := h.Hash(ctx, "correct horse battery staple")
	require.NoError(t, err)
	assert.Regexp(t, regexp.MustCompile(`^\$argon2id\$v=19\$m=64,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`), encoded)

	again, err := h.Hash(ctx, "correct horse battery staple")
	require.NoError(t, err)
	assert.NotEqual(t, encoded, again, "every hash has its own salt")

	tests := []struct {
		name     string
		password string
		want     bool
	}{
		{"right password", "correct horse battery staple", true},
		{"wrong password", "correct horse battery stapler", false},
		{"empty password", "", false},
		{"case matters", "Correct horse battery staple", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := h.Verify(ctx, tt.password, encoded)
			require.NoError(t, err)
			assert.Equal(t, tt.want, ok)
		})
	}
}

func TestVerifyUsesTheStoredParameters(t *testing.T) {
	ctx := t.Context()
	old, err := New(Params{Memory: 128, Time: 2, Threads: 2, SaltLen: 16, KeyLen: 32}).Hash(ctx, "s3cret-password")
	require.NoError(t, err)

	h := New(cheap)
	ok, err := h.Verify(ctx, "s3cret-password", old)
	require.NoError(t, err)
	assert.True(t, ok, "hashes made with older parameters keep verifying")
	assert.True(t, h.NeedsRehash(old))

	current, err := h.Hash(ctx, "s3cret-password")
	require.NoError(t, err)
	assert.False(t, h.NeedsRehash(current))
}

func TestVerifyKnownVector(t *testing.T) {
	// Made by the reference implementation: echo -n password | argon2 somesalt -id -t 2 -m 16 -p 1 -l 32
	const encoded = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	ok, err := New(DefaultParams).Verify(t.Context(), "password", encoded)
	require.NoError(t, err)
	assert.True(t, ok)
}

func TestVerifyRejectsMalformedHashes(t *testing.T) {
	h := New(cheap)
	valid, err := h.Hash(t.Context(), "password1")
	require.NoError(t, err)
	parts := strings.Split(valid, "$")

	tests := map[string]string{
		"empty":          "",
		"bcrypt":         "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"argon2i":        strings.Replace(valid, "argon2id", "argon2i", 1),
		"old version":    strings.Replace(valid, "v=19", "v=16", 1),
		"huge memory":    strings.Join([]string{"", "argon2id", "v=19", "m=4194304,t=1,p=1", parts[4], parts[5]}, "$"),
		"zero time":      strings.Join([]string{"", "argon2id", "v=19", "m=64,t=0,p=1", parts[4], parts[5]}, "$"),
		"bad salt":       strings.Join([]string{"", "argon2id", "v=19", "m=64,t=1,p=1", "!!", parts[5]}, "$"),
		"short hash":     strings.Join([]string{"", "argon2id", "v=19", "m=64,t=1,p=1", parts[4], "AAAA"}, "$"),
		"missing fields": "$argon2id$v=19$m=64,t=1,p=1",
	}
	for name, encoded := range tests {
		t.Run(name, func(t *testing.T) {
			ok, err := h.Verify(t.Context(), "password1", encoded)
			assert.ErrorIs(t, err, ErrMalformedHash)
			assert.False(t, ok)
		})
	}
}

func TestHashHonoursCancellation(t *testing.T) {
	h := New(cheap)
	for h.slots.acquire(t.Context(), false, closedTimer()) == nil {
		// every slot busy
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := h.Hash(ctx, "password1")
	assert.ErrorIs(t, err, context.Canceled)
}

// A hash that finds every slot taken waits at most the queue timeout and
// is then refused as ResourceExhausted with a retry hint, instead of
// queueing behind a flood until the request's deadline.
func TestQueueTimeoutBoundsTheWaitForASlot(t *testing.T) {
	h := New(cheap, WithSlots(1), WithQueueTimeout(20*time.Millisecond))
	require.NoError(t, h.slots.acquire(t.Context(), false, nil)) // a flood holds the one slot
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	_, err := h.Hash(ctx, "correct horse")
	require.ErrorIs(t, err, ErrBusy)
	assert.ErrorIs(t, err, errkind.ResourceExhausted)
	var ra *errkind.RetryAfterError
	require.ErrorAs(t, err, &ra)
	assert.Equal(t, 20*time.Millisecond, ra.After)
	assert.NoError(t, ctx.Err(), "refused before the request's deadline")

	h.slots.release()
	_, err = h.Hash(ctx, "correct horse")
	assert.NoError(t, err, "a free slot is taken at once")
}

// closedTimer fires at once.
func closedTimer() <-chan time.Time {
	c := make(chan time.Time)
	close(c)
	return c
}

// A free slot goes to the longest-waiting high-priority hash; low-priority
// ones (registrations, suspect addresses) get it only when none waits, and
// a waiter that gives up passes on the slot it may have been handed.
func TestSlotsServeHighPriorityFirst(t *testing.T) {
	s := newSlots(1)
	ctx := t.Context()
	require.NoError(t, s.acquire(ctx, false, nil))

	order := make(chan string, 4)
	wait := func(name string, low bool) {
		go func() {
			if s.acquire(ctx, low, nil) == nil {
				order <- name
				s.release()
			}
		}()
	}
	queued := func(high, low int) func() bool {
		return func() bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			return len(s.high) == high && len(s.low) == low
		}
	}
	wait("low-1", true)
	require.Eventually(t, queued(0, 1), 5*time.Second, time.Millisecond)
	wait("low-2", true)
	require.Eventually(t, queued(0, 2), 5*time.Second, time.Millisecond)
	wait("high-1", false)
	require.Eventually(t, queued(1, 2), 5*time.Second, time.Millisecond)
	wait("high-2", false)
	require.Eventually(t, queued(2, 2), 5*time.Second, time.Millisecond)

	gaveUp, cancel := context.WithCancel(ctx)
	cancel()
	assert.ErrorIs(t, s.acquire(gaveUp, false, nil), context.Canceled)
	assert.ErrorIs(t, s.acquire(ctx, false, closedTimer()), errQueueTimeout)

	s.release()
	var got []string
	for range 4 {
		got = append(got, <-order)
	}
	assert.Equal(t, []string{"high-1", "high-2", "low-1", "low-2"}, got)
	require.Eventually(t, queued(0, 0), 5*time.Second, time.Millisecond)
	assert.Equal(t, 1, s.free, "every slot came back")
}
