package domain_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/mock/gomock"

	"github.com/slipway-dev/slipway/platform/errkind"
	"github.com/slipway-dev/slipway/platform/ratelimit"
	"github.com/slipway-dev/slipway/services/user/internal/domain"
)

// gcra is the domain's Limiter over the platform's in-memory GCRA, as the
// app wires it.
type gcra struct{ lim *ratelimit.Memory }

func newGCRA(rate float64, burst int) gcra {
	return gcra{ratelimit.NewMemory(ratelimit.Limit{Rate: rate, Burst: burst})}
}

func (g gcra) Allow(ctx context.Context, key string) (bool, time.Duration) {
	d := g.lim.Allow(ctx, key)
	return d.Allowed, d.RetryAfter
}

func (g gcra) Refund(ctx context.Context, key string) { g.lim.Refund(ctx, key) }

// countingHasher counts the password checks a test causes (those that
// hashed: not those refused for want of a slot).
type countingHasher struct {
	domain.PasswordHasher
	verifies atomic.Int64
}

func (h *countingHasher) Verify(ctx context.Context, password, encoded string) (bool, error) {
	ok, err := h.PasswordHasher.Verify(ctx, password, encoded)
	if err == nil {
		h.verifies.Add(1)
	}
	return ok, err
}

// limited is a service over a mock store that knows alice (password
// "correct horse") and no one else, enforcing l.
type limited struct {
	*fixture
	hasher *countingHasher
	alice  domain.User
}

func newLimited(t *testing.T, l domain.Limits) *limited {
	t.Helper()
	h := &countingHasher{PasswordHasher: cheapHasher()}
	f := newFixture(t, h)
	alice := account(t, cheapHasher(), domain.RoleCustomer, "correct horse")
	f.store.EXPECT().ByEmail(gomock.Any(), gomock.Any()).DoAndReturn(func(_ context.Context, email string) (domain.User, error) {
		if email == alice.Email {
			return alice, nil
		}
		return domain.User{}, fmt.Errorf("select %s: %w", email, domain.ErrNotFound)
	}).AnyTimes()
	f.tokens.EXPECT().Issue(gomock.Any(), gomock.Any()).Return(domain.Token{Value: "t"}, nil).AnyTimes()
	f.svc = domain.NewUserService(f.store, h, f.tokens, domain.WithLimits(l))
	return &limited{fixture: f, hasher: h, alice: alice}
}

func (l *limited) login(t *testing.T, client, email, password string) error {
	t.Helper()
	_, err := l.svc.Login(t.Context(), domain.Credentials{Email: email, Password: password, Client: client})
	return err
}

// retryAfter returns the wait err asks for, failing the test when err is
// not a limit.
func retryAfter(t *testing.T, err error) time.Duration {
	t.Helper()
	require.ErrorIs(t, err, errkind.ResourceExhausted)
	var ra *errkind.RetryAfterError
	require.ErrorAs(t, err, &ra)
	require.Positive(t, ra.After)
	return ra.After
}

// Guessing one account from many addresses, one guess each, is limited
// by the account-wide ceiling, before any hashing; the per-client limits
// alone would let every new address through.
func TestDistributedGuessingIsLimitedAccountWide(t *testing.T) {
	l := newLimited(t, domain.Limits{
		PerAccountClient: newGCRA(1.0/60, 2),
		AccountWide:      newGCRA(1.0/60, 10),
		Backoff:          ratelimit.NewMemoryBackoff(ratelimit.Policy{Base: time.Minute, Max: time.Hour}),
	})
	for i := range 10 {
		require.ErrorIs(t, l.login(t, fmt.Sprintf("192.0.2.%d", i), "alice@example.com", "guess"), domain.ErrInvalidCredentials)
	}
	for i := range 50 {
		err := l.login(t, fmt.Sprintf("198.51.100.%d", i), " ALICE@example.com", "guess")
		assert.LessOrEqual(t, retryAfter(t, err), time.Minute)
		assert.ErrorContains(t, err, "too many attempts for this account")
	}
	assert.Equal(t, int64(10), l.hasher.verifies.Load(), "a refused guess costs no hashing")
	assert.ErrorIs(t, l.login(t, "203.0.113.1", "bob@example.com", "guess"), domain.ErrInvalidCredentials,
		"another account has its own budget")
}

// known is the domain's KnownClients over the platform's in-memory backoff,
// as the app wires it.
type known struct{ b *ratelimit.MemoryBackoff }

func newKnown(ttl time.Duration) known {
	return known{ratelimit.NewMemoryBackoff(ratelimit.Policy{Base: ttl, Max: ttl})}
}

func (k known) Known(ctx context.Context, key string) bool { return k.b.Wait(ctx, key) > 0 }
func (k known) Remember(ctx context.Context, key string)   { k.b.Failed(ctx, key) }

// While guessing from many addresses keeps the account-wide ceiling empty,
// the owner still logs in at once from an address that logged in to the
// account lately; from a new address the owner waits like anyone, and an
// attacker at a known address is still held by the per-client limits.
func TestAKnownClientSkipsTheAccountWideCeiling(t *testing.T) {
	l := newLimited(t, domain.Limits{
		PerAccountClient: newGCRA(1.0/60, 2),
		AccountWide:      newGCRA(1.0/60, 5),
		Known:            newKnown(time.Hour),
	})
	home, travel := "203.0.113.7", "198.51.100.200"
	require.NoError(t, l.login(t, home, "alice@example.com", "correct horse"))
	for i := range 5 {
		require.ErrorIs(t, l.login(t, fmt.Sprintf("192.0.2.%d", i), "alice@example.com", "guess"), domain.ErrInvalidCredentials)
	}
	assert.ErrorContains(t, l.login(t, "192.0.2.99", "alice@example.com", "guess"), "too many attempts for this account",
		"the ceiling is empty")
	for i := range 3 {
		require.NoError(t, l.login(t, home, "alice@example.com", "correct horse"), "the owner at home, login %d", i+1)
	}
	assert.ErrorContains(t, l.login(t, travel, "alice@example.com", "correct horse"), "too many attempts for this account",
		"a new address waits for the ceiling")
	require.ErrorIs(t, l.login(t, home, "alice@example.com", "guess"), domain.ErrInvalidCredentials)
	require.ErrorIs(t, l.login(t, home, "alice@example.com", "guess"), domain.ErrInvalidCredentials)
	assert.ErrorContains(t, l.login(t, home, "alice@example.com", "guess"), "too many attempts for this account from this address",
		"a known address still has its own budget")
	assert.Equal(t, int64(4+5+2), l.hasher.verifies.Load())
}

// The account-wide ceiling counts failures only: the owner's logins are
// given back, however many.
func TestTheAccountWideCeilingCountsFailuresOnly(t *testing.T) {
	l := newLimited(t, domain.Limits{PerAccountClient: newGCRA(1.0/60, 2), AccountWide: newGCRA(1.0/60, 3)})
	owner := "203.0.113.7"
	require.ErrorIs(t, l.login(t, "192.0.2.1", "alice@example.com", "guess"), domain.ErrInvalidCredentials)
	require.ErrorIs(t, l.login(t, "192.0.2.2", "alice@example.com", "guess"), domain.ErrInvalidCredentials)
	for i := range 10 {
		require.NoError(t, l.login(t, owner, "alice@example.com", "correct horse"), "login %d", i+1)
	}
	require.ErrorIs(t, l.login(t, "192.0.2.3", "alice@example.com", "guess"), domain.ErrInvalidCredentials, "the third failure still fits")
	assert.ErrorContains(t, l.login(t, owner, "alice@example.com", "wrong"), "too many attempts for this account")
}

func TestPasswordSprayingIsLimitedPerAddress(t *testing.T) {
	l := newLimited(t, domain.Limits{PerAddress: newGCRA(1.0/60, 4)})
	for i := range 4 {
		require.ErrorIs(t, l.login(t, "192.0.2.1", fmt.Sprintf("user%d@example.com", i), "guess"), domain.ErrInvalidCredentials)
	}
	err := l.login(t, "192.0.2.1", "user99@example.com", "guess")
	retryAfter(t, err)
	assert.ErrorContains(t, err, "too many attempts from this address")
	assert.NoError(t, l.login(t, "192.0.2.2", "alice@example.com", "correct horse"), "another address is not limited")
}

// A login with the right password is given back: a busy address whose
// users log in correctly is never limited.
func TestSuccessfulLoginsCostNothing(t *testing.T) {
	l := newLimited(t, domain.Limits{PerAddress: newGCRA(1.0/60, 2), PerAccountClient: newGCRA(1.0/60, 2), AccountWide: newGCRA(1.0/60, 2)})
	for i := range 10 {
		require.NoError(t, l.login(t, "192.0.2.1", "alice@example.com", "correct horse"), "login %d", i+1)
	}
	require.ErrorIs(t, l.login(t, "192.0.2.1", "alice@example.com", "wrong"), domain.ErrInvalidCredentials)
	require.ErrorIs(t, l.login(t, "192.0.2.1", "alice@example.com", "wrong"), domain.ErrInvalidCredentials)
	retryAfter(t, l.login(t, "192.0.2.1", "alice@example.com", "correct horse"))
}

// Failures in a row slow the guessing client down more each time, a
// success ends the streak, and the wait never passes the cap. The owner at
// another address does not wait at all.
func TestFailedLoginsBackOffUpToTheCap(t *testing.T) {
	const base, ceiling = 20 * time.Millisecond, 80 * time.Millisecond
	l := newLimited(t, domain.Limits{Backoff: ratelimit.NewMemoryBackoff(ratelimit.Policy{Base: base, Max: ceiling})})
	attacker, user := "192.0.2.66", "198.51.100.7"

	var waits []time.Duration
	for range 6 {
		require.ErrorIs(t, l.login(t, attacker, "alice@example.com", "guess"), domain.ErrInvalidCredentials)
		wait := retryAfter(t, l.login(t, attacker, "alice@example.com", "guess"))
		waits = append(waits, wait)
		assert.LessOrEqual(t, wait, ceiling, "never more than the cap")
		time.Sleep(wait)
	}
	assert.Greater(t, waits[2], base, "the wait grows with the streak: %v", waits)
	assert.Greater(t, waits[5], ceiling/2, "and reaches the cap: %v", waits)
	assert.Equal(t, int64(6), l.hasher.verifies.Load(), "a refused guess costs no hashing")

	// Right after the attacker's last failure, the owner logs in at once.
	require.ErrorIs(t, l.login(t, attacker, "alice@example.com", "guess"), domain.ErrInvalidCredentials)
	require.NoError(t, l.login(t, user, "alice@example.com", "correct horse"))
	retryAfter(t, l.login(t, attacker, "alice@example.com", "guess"))

	// A success ends that client's streak: its next failure waits the base again.
	time.Sleep(ceiling)
	require.NoError(t, l.login(t, attacker, "alice@example.com", "correct horse"))
	require.ErrorIs(t, l.login(t, attacker, "alice@example.com", "guess"), domain.ErrInvalidCredentials)
	assert.LessOrEqual(t, retryAfter(t, l.login(t, attacker, "alice@example.com", "guess")), base)
}

// One address guessing one account at exactly the pace its limits allow
// (coming back the moment each Retry-After ends) for ten times the
// backoff's cap never keeps the owner, at another address, from logging in
// at once: the limits on one account are per client, and the account-wide
// ceiling refills faster than one client may spend it. Keyed by the
// account alone, the owner would be refused after the attacker's first
// failure.
func TestOneAddressGuessingAtItsPaceNeverLocksTheOwnerOut(t *testing.T) {
	const base, ceiling = 10 * time.Millisecond, 40 * time.Millisecond
	for _, tt := range []struct {
		name    string
		backoff bool
	}{{"buckets and backoff", true}, {"buckets only", false}} {
		t.Run(tt.name, func(t *testing.T) {
			limits := domain.Limits{
				PerAddress: newGCRA(100, 20),
				// One client: 2, then one guess every 40 ms.
				PerAccountClient: newGCRA(25, 2),
				// Every client: 3, then one every 20 ms, twice one client's pace.
				AccountWide: newGCRA(50, 3),
			}
			if tt.backoff {
				limits.Backoff = ratelimit.NewMemoryBackoff(ratelimit.Policy{Base: base, Max: ceiling})
			}
			l := newLimited(t, limits)
			attacker, owner := "192.0.2.66", "198.51.100.7"
			var checked, refused int
			var longest time.Duration
			for end := time.Now().Add(10 * ceiling); time.Now().Before(end); {
				err := l.login(t, attacker, "alice@example.com", "guess")
				if !errors.Is(err, domain.ErrInvalidCredentials) {
					wait := retryAfter(t, err)
					refused++
					longest = max(longest, wait)
					time.Sleep(wait)
					continue
				}
				checked++
				require.NoError(t, l.login(t, owner, "alice@example.com", "correct horse"),
					"the owner logs in at once after the attacker's guess %d", checked)
			}
			t.Logf("the attacker: %d guesses checked, %d refused, longest wait %s", checked, refused, longest)
			assert.Positive(t, refused, "the attacker was slowed down")
			assert.GreaterOrEqual(t, checked, 3, "the attacker kept guessing at its pace all along")
			if tt.backoff {
				assert.Greater(t, longest, ceiling/2, "the attacker reached the cap")
			}
		})
	}
}

// An attacker who keeps trying a slowed-down account spends their own
// address's budget; the real user's address keeps its own, and the real
// user logs in at once.
func TestTheAttackersAddressIsLimitedFirst(t *testing.T) {
	l := newLimited(t, domain.Limits{
		PerAddress: newGCRA(1.0/60, 5),
		Backoff:    ratelimit.NewMemoryBackoff(ratelimit.Policy{Base: time.Minute, Max: time.Hour}),
	})
	require.ErrorIs(t, l.login(t, "192.0.2.66", "alice@example.com", "guess"), domain.ErrInvalidCredentials)
	for range 4 {
		assert.ErrorContains(t, l.login(t, "192.0.2.66", "alice@example.com", "guess"), "too many failed logins for this account from this address")
	}
	assert.ErrorContains(t, l.login(t, "192.0.2.66", "alice@example.com", "guess"), "too many attempts from this address")
	assert.ErrorContains(t, l.login(t, "192.0.2.66", "someone@example.com", "guess"), "too many attempts from this address",
		"the attacker cannot move on to other accounts either")
	assert.NoError(t, l.login(t, "198.51.100.7", "alice@example.com", "correct horse"),
		"the real user does not wait for the attacker's backoff")
}

// The limits answer an unknown email exactly as they answer a wrong
// password, so they reveal no more than Login does.
func TestLimitsTreatUnknownEmailsLikeWrongPasswords(t *testing.T) {
	outcomes := func(email string) []string {
		l := newLimited(t, domain.Limits{
			PerAccountClient: newGCRA(1.0/60, 2),
			AccountWide:      newGCRA(1.0/60, 3),
			Backoff:          ratelimit.NewMemoryBackoff(ratelimit.Policy{Base: time.Minute, Max: time.Hour}),
		})
		var got []string
		// One client twice (its backoff), then others (the ceiling).
		for _, client := range []string{"192.0.2.1", "192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"} {
			err := l.login(t, client, email, "guess")
			var ra *errkind.RetryAfterError
			if errors.As(err, &ra) {
				got = append(got, "retry after "+ra.After.Round(time.Minute).String())
				continue
			}
			got = append(got, err.Error())
		}
		return got
	}
	known, unknown := outcomes("alice@example.com"), outcomes("nobody@example.com")
	assert.Equal(t, known, unknown)
	assert.Equal(t, "invalid email or password", known[0])
}

func TestRegisterIsLimited(t *testing.T) {
	reg := func(client, email string) domain.Registration {
		return domain.Registration{Email: email, Password: "correct horse", DisplayName: "Someone", Client: client}
	}
	t.Run("per address, taken emails included", func(t *testing.T) {
		l := newLimited(t, domain.Limits{PerAddress: newGCRA(1.0/60, 3)})
		l.store.EXPECT().Create(gomock.Any(), gomock.Any()).Return(nil).Times(2)
		l.store.EXPECT().Create(gomock.Any(), gomock.Any()).Return(domain.ErrAlreadyExists)
		_, err := l.svc.Register(t.Context(), reg("192.0.2.1", "a@example.com"))
		require.NoError(t, err)
		_, err = l.svc.Register(t.Context(), reg("192.0.2.1", "b@example.com"))
		require.NoError(t, err)
		_, err = l.svc.Register(t.Context(), reg("192.0.2.1", "alice@example.com"))
		require.ErrorIs(t, err, domain.ErrAlreadyExists)
		_, err = l.svc.Register(t.Context(), reg("192.0.2.1", "c@example.com"))
		retryAfter(t, err) // and Create was not called a fourth time
	})
	t.Run("per account", func(t *testing.T) {
		l := newLimited(t, domain.Limits{AccountWide: newGCRA(1.0/60, 2)})
		l.store.EXPECT().Create(gomock.Any(), gomock.Any()).Return(domain.ErrAlreadyExists).Times(2)
		for i := range 2 {
			_, err := l.svc.Register(t.Context(), reg(fmt.Sprintf("192.0.2.%d", i), "alice@example.com"))
			require.ErrorIs(t, err, domain.ErrAlreadyExists)
		}
		_, err := l.svc.Register(t.Context(), reg("192.0.2.9", "Alice@Example.com"))
		retryAfter(t, err)
	})
	t.Run("a request that failed before the store is given back", func(t *testing.T) {
		l := newLimited(t, domain.Limits{PerAddress: newGCRA(1.0/60, 1)})
		l.store.EXPECT().Create(gomock.Any(), gomock.Any()).Return(errDisk)
		l.store.EXPECT().Create(gomock.Any(), gomock.Any()).Return(nil)
		_, err := l.svc.Register(t.Context(), reg("192.0.2.1", "a@example.com"))
		require.ErrorIs(t, err, errDisk)
		_, err = l.svc.Register(t.Context(), reg("192.0.2.1", "a@example.com"))
		require.NoError(t, err)
	})
	t.Run("invalid input spends nothing", func(t *testing.T) {
		l := newLimited(t, domain.Limits{PerAddress: newGCRA(1.0/60, 1)})
		l.store.EXPECT().Create(gomock.Any(), gomock.Any()).Return(nil)
		for range 5 {
			_, err := l.svc.Register(t.Context(), reg("192.0.2.1", "not-an-email"))
			require.ErrorIs(t, err, errkind.Invalid)
		}
		_, err := l.svc.Register(t.Context(), reg("192.0.2.1", "a@example.com"))
		require.NoError(t, err)
	})
}

// priorityHasher records whether each hash ran at low priority.
type priorityHasher struct {
	domain.PasswordHasher
	low []bool
}

func (h *priorityHasher) Hash(ctx context.Context, password string) (string, error) {
	h.low = append(h.low, domain.IsLowPriority(ctx))
	return h.PasswordHasher.Hash(ctx, password)
}

func (h *priorityHasher) Verify(ctx context.Context, password, encoded string) (bool, error) {
	h.low = append(h.low, domain.IsLowPriority(ctx))
	return h.PasswordHasher.Verify(ctx, password, encoded)
}

// Logins from an address whose logins failed lately, and registrations,
// hash at low priority: a flood of wrong passwords waits behind the
// logins of clean addresses. A success clears the address.
func TestSuspectAddressesHashAtLowPriority(t *testing.T) {
	h := &priorityHasher{PasswordHasher: cheapHasher()}
	f := newFixture(t, h)
	alice := account(t, cheapHasher(), domain.RoleCustomer, "correct horse")
	f.store.EXPECT().ByEmail(gomock.Any(), alice.Email).Return(alice, nil).AnyTimes()
	f.store.EXPECT().Create(gomock.Any(), gomock.Any()).Return(nil)
	f.tokens.EXPECT().Issue(gomock.Any(), gomock.Any()).Return(domain.Token{Value: "t"}, nil).AnyTimes()
	svc := domain.NewUserService(f.store, h, f.tokens, domain.WithLimits(domain.Limits{
		Suspects: ratelimit.NewMemoryBackoff(ratelimit.Policy{Base: time.Minute, Max: time.Hour}),
	}))
	login := func(client, pw string) {
		_, _ = svc.Login(t.Context(), domain.Credentials{Email: alice.Email, Password: pw, Client: client})
	}
	login("192.0.2.66", "guess")           // clean until it fails
	login("192.0.2.66", "guess")           // now a suspect
	login("198.51.100.7", "correct horse") // another address is clean
	login("192.0.2.66", "correct horse")   // a suspect, until this success
	login("192.0.2.66", "correct horse")
	_, err := svc.Register(t.Context(), domain.Registration{Email: "new@example.com", Password: "correct horse", DisplayName: "New", Client: "198.51.100.7"})
	require.NoError(t, err)
	assert.Equal(t, []bool{false, true, false, true, false, true}, h.low)
}
