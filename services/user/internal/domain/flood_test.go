package domain_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/mock/gomock"

	"github.com/slipway-dev/slipway/platform/errkind"
	"github.com/slipway-dev/slipway/platform/ratelimit"
	"github.com/slipway-dev/slipway/services/user/internal/domain"
	"github.com/slipway-dev/slipway/services/user/internal/domain/mock"
	"github.com/slipway-dev/slipway/services/user/internal/password"
)

// floodRun is how TestValidLoginsDuringAFlood floods: by default a short,
// cheap run that CI can afford; SLIPWAY_FLOOD=full uses the production
// Argon2id cost for long enough to pass the limits' bursts.
type floodRun struct {
	params    password.Params
	duration  time.Duration
	addresses int // flooding client addresses, one goroutine each
}

func newFloodRun() floodRun {
	if os.Getenv("SLIPWAY_FLOOD") == "full" {
		return floodRun{params: password.DefaultParams, duration: 20 * time.Second, addresses: 32}
	}
	return floodRun{
		params:   password.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		duration: 2 * time.Second, addresses: 16,
	}
}

// floodResult is what one flood did to the valid user's logins.
type floodResult struct {
	valid, validOK, validRefused int
	p50, p99                     time.Duration
	floodTried, floodHashed      int64
}

// TestValidLoginsDuringAFlood measures a valid user's logins while many
// addresses flood Login with wrong passwords for ever new accounts, with
// and without the protections (the default limits, the bounded wait for a
// hashing slot, and low priority for addresses whose logins fail), and
// prints the two side by side. It asserts no timing:
// only that the protections keep the flood's hashing within the limits'
// budgets, far below what the same flood hashes unprotected.
//
//	go test -run TestValidLoginsDuringAFlood -v ./services/user/internal/domain/
//	SLIPWAY_FLOOD=full go test -run TestValidLoginsDuringAFlood -v -timeout 5m ./services/user/internal/domain/
func TestValidLoginsDuringAFlood(t *testing.T) {
	run := newFloodRun()
	unprotected := flood(t, run, nil, 0)
	protected := flood(t, run, &domain.Limits{
		// The defaults of the user service's configuration.
		PerAddress:       newGCRA(1, 20),
		PerAccountClient: newGCRA(0.05, 5),
		AccountWide:      newGCRA(0.1, 100),
		Backoff:          ratelimit.NewMemoryBackoff(ratelimit.Policy{Base: time.Second, Max: time.Minute}),
		Suspects:         ratelimit.NewMemoryBackoff(ratelimit.Policy{Base: 10 * time.Second, Max: 10 * time.Minute}),
	}, time.Second)

	t.Logf("%d flooding addresses for %s, Argon2id m=%d KiB t=%d, 2 hashing slots", run.addresses, run.duration, run.params.Memory, run.params.Time)
	t.Logf("%-12s %8s %8s %8s %10s %10s %12s %12s", "", "valid", "ok", "refused", "p50", "p99", "flood tried", "flood hashed")
	for _, r := range []struct {
		name string
		floodResult
	}{{"unprotected", unprotected}, {"protected", protected}} {
		t.Logf("%-12s %8d %8d %8d %10s %10s %12d %12d", r.name, r.valid, r.validOK, r.validRefused,
			r.p50.Round(100*time.Microsecond), r.p99.Round(100*time.Microsecond), r.floodTried, r.floodHashed)
	}

	// Each address may hash its burst plus one a second; unknown accounts
	// are new each time, so the account limits never stop the flood first.
	budget := int64(run.addresses) * (20 + int64(run.duration/time.Second) + 1)
	assert.LessOrEqual(t, protected.floodHashed, budget, "the limits run before the hashing")
	assert.Greater(t, unprotected.floodHashed, protected.floodHashed, "unprotected, the flood hashes more")
	assert.Positive(t, protected.validOK, "the valid user still logs in")
}

// flood runs one flood; limits nil means none, and queueTimeout 0 means a
// login waits for a hashing slot as long as its context allows.
func flood(t *testing.T, run floodRun, limits *domain.Limits, queueTimeout time.Duration) floodResult {
	t.Helper()
	opts := []password.Option{password.WithSlots(2)}
	if queueTimeout > 0 {
		opts = append(opts, password.WithQueueTimeout(queueTimeout))
	}
	hasher := &countingHasher{PasswordHasher: password.New(run.params, opts...)}
	ctrl := gomock.NewController(t)
	store, tokens := mock.NewMockUserStore(ctrl), mock.NewMockTokenIssuer(ctrl)
	alice := account(t, password.New(run.params), domain.RoleCustomer, "correct horse")
	store.EXPECT().ByEmail(gomock.Any(), gomock.Any()).DoAndReturn(func(_ context.Context, email string) (domain.User, error) {
		if email == alice.Email {
			return alice, nil
		}
		return domain.User{}, domain.ErrNotFound
	}).AnyTimes()
	tokens.EXPECT().Issue(gomock.Any(), gomock.Any()).Return(domain.Token{Value: "t"}, nil).AnyTimes()
	var svcOpts []domain.Option
	if limits != nil {
		svcOpts = append(svcOpts, domain.WithLimits(*limits))
	}
	svc := domain.NewUserService(store, hasher, tokens, svcOpts...)

	ctx, cancel := context.WithTimeout(t.Context(), run.duration)
	defer cancel()
	var (
		wg    sync.WaitGroup
		tried atomic.Int64
	)
	for a := range run.addresses {
		wg.Go(func() {
			client := fmt.Sprintf("10.0.%d.%d", a/256, a%256)
			for i := 0; ctx.Err() == nil; i++ {
				tried.Add(1)
				_, err := svc.Login(ctx, domain.Credentials{Email: fmt.Sprintf("guess-%d-%d@example.com", a, i), Password: "wrong guess", Client: client})
				if errors.Is(err, errkind.ResourceExhausted) {
					// A refusal costs the server next to nothing; pace the
					// attacker so the test measures the server, not a spin.
					time.Sleep(5 * time.Millisecond)
				}
			}
		})
	}
	time.Sleep(50 * time.Millisecond) // let the flood fill the queue

	var (
		res       floodResult
		latencies []time.Duration
	)
	for ctx.Err() == nil {
		start := time.Now()
		// The valid user's own budget: a context of its own, as a request has.
		loginCtx, loginCancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := svc.Login(loginCtx, domain.Credentials{Email: alice.Email, Password: "correct horse", Client: "192.0.2.1"})
		loginCancel()
		res.valid++
		switch {
		case err == nil:
			res.validOK++
			latencies = append(latencies, time.Since(start))
		case errors.Is(err, errkind.ResourceExhausted):
			res.validRefused++
		default:
			require.NoError(t, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	wg.Wait()
	res.floodTried = tried.Load()
	res.floodHashed = hasher.verifies.Load() - int64(res.validOK)
	if len(latencies) > 0 {
		slices.Sort(latencies)
		res.p50 = latencies[len(latencies)/2]
		res.p99 = latencies[min(len(latencies)-1, len(latencies)*99/100)]
	}
	return res
}
