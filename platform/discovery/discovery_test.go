package discovery_test

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"

	"github.com/slipway-dev/slipway/platform/client"
	"github.com/slipway-dev/slipway/platform/discovery"
	"github.com/slipway-dev/slipway/platform/discovery/etcdtest"
)

const healthCheck = "/grpc.health.v1.Health/Check"

// instance is one running gRPC server of a service.
type instance struct {
	addr string
	srv  *grpc.Server
}

// startInstance serves grpc.health.v1 on a free port. Each call takes a few
// milliseconds, as real work does, so that calls are in flight when an
// instance stops.
func startInstance(t *testing.T) *instance {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		time.Sleep(5 * time.Millisecond)
		return handler(ctx, req)
	}))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return &instance{addr: lis.Addr().String(), srv: srv}
}

func register(t *testing.T, cli *clientv3.Client, service, addr string, ttl time.Duration) func(context.Context) error {
	t.Helper()
	deregister, err := discovery.Register(t.Context(), cli, service, addr, ttl)
	require.NoError(t, err)
	return deregister
}

// dial connects to service through etcd, retrying health checks.
func dial(t *testing.T, cli *clientv3.Client, service string) healthpb.HealthClient {
	t.Helper()
	res, err := discovery.Resolver(cli)
	require.NoError(t, err)
	conn, err := client.Dial(discovery.Target(service),
		client.WithDialOptions(res),
		client.WithRetry(healthCheck),
		client.WithTimeout(5*time.Second))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return healthpb.NewHealthClient(conn)
}

// check makes one call and returns the address that answered it.
func check(ctx context.Context, hc healthpb.HealthClient) (string, error) {
	var p peer.Peer
	if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Peer(&p)); err != nil {
		return "", err
	}
	return p.Addr.String(), nil
}

// waitForBoth calls until both addresses have answered, so both are READY.
func waitForBoth(t *testing.T, hc healthpb.HealthClient, a, b string) {
	t.Helper()
	seen := map[string]bool{}
	require.Eventually(t, func() bool {
		addr, err := check(t.Context(), hc)
		if err == nil {
			seen[addr] = true
		}
		return seen[a] && seen[b]
	}, 10*time.Second, 5*time.Millisecond, "calls never reached both instances: %v", seen)
}

// newClient connects to etcd the way services do.
func newClient(t *testing.T, etcd *etcdtest.Server) *clientv3.Client {
	t.Helper()
	cli, err := discovery.NewEtcdClient([]string{etcd.Endpoint}, 5*time.Second, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// keys lists the registered addresses of service, key by key.
func keys(t *testing.T, cli *clientv3.Client, service string) map[string]clientv3.LeaseID {
	t.Helper()
	resp, err := cli.Get(t.Context(), discovery.Prefix+service+"/", clientv3.WithPrefix())
	require.NoError(t, err)
	out := map[string]clientv3.LeaseID{}
	for _, kv := range resp.Kvs {
		out[string(kv.Key)] = clientv3.LeaseID(kv.Lease)
	}
	return out
}

func TestRegisterResolveAndStopAnInstance(t *testing.T) {
	t.Parallel()
	etcd := etcdtest.Start(t)
	cli := newClient(t, etcd)
	a, b := startInstance(t), startInstance(t)
	register(t, cli, "inventory", a.addr, 5*time.Second)
	deregisterB := register(t, cli, "inventory", b.addr, 5*time.Second)

	registered := keys(t, cli, "inventory")
	require.Len(t, registered, 2)
	for key, lease := range registered {
		assert.NotZero(t, lease, "%s is registered under a lease", key)
	}
	assert.Contains(t, registered, "slipway/services/inventory/"+a.addr)

	hc := dial(t, cli, "inventory")
	waitForBoth(t, hc, a.addr, b.addr)

	t.Run("round robin spreads calls over both instances", func(t *testing.T) {
		counts := map[string]int{}
		for range 20 {
			addr, err := check(t.Context(), hc)
			require.NoError(t, err)
			counts[addr]++
		}
		assert.Equal(t, 10, counts[a.addr], "counts: %v", counts)
		assert.Equal(t, 10, counts[b.addr], "counts: %v", counts)
	})

	t.Run("stopping an instance fails no call", func(t *testing.T) {
		// Callers keep calling while b leaves. b stops abruptly, so the calls
		// in flight on it fail with UNAVAILABLE; the retry policy sends them
		// to a. (Without WithRetry this subtest fails.)
		var calls, failures atomic.Int64
		var firstErr atomic.Value
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					calls.Add(1)
					if _, err := check(t.Context(), hc); err != nil {
						failures.Add(1)
						firstErr.CompareAndSwap(nil, err)
					}
				}
			})
		}
		time.Sleep(50 * time.Millisecond)
		// The worst order: b dies first and leaves etcd after, so calls are
		// picked for b until the resolver hears of it.
		b.srv.Stop()
		require.NoError(t, deregisterB(t.Context()))
		time.Sleep(200 * time.Millisecond)
		close(stop)
		wg.Wait()
		assert.Zero(t, failures.Load(), "of %d calls, first error: %v", calls.Load(), firstErr.Load())
		assert.Greater(t, calls.Load(), int64(20))

		assert.NotContains(t, keys(t, cli, "inventory"), "slipway/services/inventory/"+b.addr)
		for range 20 {
			addr, err := check(t.Context(), hc)
			require.NoError(t, err)
			assert.Equal(t, a.addr, addr)
		}
		require.NoError(t, deregisterB(t.Context()), "deregister twice is harmless")
	})
}

func TestLeaseExpiryRemovesACrashedInstance(t *testing.T) {
	t.Parallel()
	etcd := etcdtest.Start(t)
	cli := newClient(t, etcd)
	a, b := startInstance(t), startInstance(t)
	register(t, cli, "order", a.addr, 10*time.Second)
	crashing := newClient(t, etcd) // b's own connection to etcd, lost in the crash
	register(t, crashing, "order", b.addr, 2*time.Second)
	hc := dial(t, cli, "order")
	waitForBoth(t, hc, a.addr, b.addr)

	// A crash: no deregister, keepalives stop, the server vanishes.
	crashed := time.Now()
	require.NoError(t, crashing.Close())
	b.srv.Stop()

	bKey := "slipway/services/order/" + b.addr
	require.Eventually(t, func() bool {
		_, ok := keys(t, cli, "order")[bKey]
		return !ok
	}, 10*time.Second, 50*time.Millisecond, "b's lease never expired")
	t.Logf("crashed instance removed %s after the crash (ttl 2s)", time.Since(crashed).Round(100*time.Millisecond))
	assert.Contains(t, keys(t, cli, "order"), "slipway/services/order/"+a.addr)

	for range 10 {
		addr, err := check(t.Context(), hc)
		require.NoError(t, err)
		assert.Equal(t, a.addr, addr)
	}
}

func TestRegisterAgainAfterTheLeaseIsLost(t *testing.T) {
	t.Parallel()
	etcd := etcdtest.Start(t)
	cli := newClient(t, etcd)
	a := startInstance(t)
	const ttl = 2 * time.Second
	deregister := register(t, cli, "user", a.addr, ttl)
	key := "slipway/services/user/" + a.addr

	// staysRegistered asserts key is registered under a lease other than
	// old and still is after two TTLs, so the new lease is kept alive too.
	staysRegistered := func(t *testing.T, old clientv3.LeaseID) clientv3.LeaseID {
		t.Helper()
		var lease clientv3.LeaseID
		require.Eventually(t, func() bool {
			lease = keys(t, cli, "user")[key]
			return lease != 0 && lease != old
		}, 15*time.Second, 50*time.Millisecond, "never registered again")
		time.Sleep(2 * ttl)
		assert.Equal(t, lease, keys(t, cli, "user")[key], "the new lease is kept alive")
		return lease
	}

	t.Run("lease revoked behind its back", func(t *testing.T) {
		lease := keys(t, cli, "user")[key]
		require.NotZero(t, lease)
		_, err := newClient(t, etcd).Revoke(t.Context(), lease)
		require.NoError(t, err)
		staysRegistered(t, lease)
	})

	t.Run("etcd restarted after the lease ran out", func(t *testing.T) {
		lease := keys(t, cli, "user")[key]
		// embed stops gracefully (it waits about 7 s for open streams), so the
		// lease is renewed until the end; then etcd stays down for longer
		// than the TTL and the client gives the lease up.
		etcd.Stop()
		time.Sleep(ttl + 1500*time.Millisecond)
		restarted := time.Now()
		etcd.Restart(t)
		next := staysRegistered(t, lease)
		t.Logf("registered again within %s of the restart", (time.Since(restarted) - 2*ttl).Round(100*time.Millisecond))

		ttlResp, err := cli.TimeToLive(t.Context(), lease)
		require.NoError(t, err)
		assert.EqualValues(t, -1, ttlResp.TTL, "the lease from before the restart is revoked")
		assert.NotEqual(t, lease, next)
	})

	require.NoError(t, deregister(t.Context()))
	assert.Empty(t, keys(t, cli, "user"))
}

func TestDeregisterRevokesTheLease(t *testing.T) {
	t.Parallel()
	etcd := etcdtest.Start(t)
	cli := newClient(t, etcd)
	deregister := register(t, cli, "notification", "127.0.0.1:50054", 30*time.Second)
	lease := keys(t, cli, "notification")["slipway/services/notification/127.0.0.1:50054"]
	require.NotZero(t, lease)

	require.NoError(t, deregister(t.Context()))
	assert.Empty(t, keys(t, cli, "notification"))
	resp, err := cli.TimeToLive(t.Context(), lease)
	require.NoError(t, err)
	assert.EqualValues(t, -1, resp.TTL, "the lease is gone, not left to expire")
}

func TestRegisterRejects(t *testing.T) {
	t.Parallel()
	etcd := etcdtest.Start(t)
	cli := newClient(t, etcd)
	tests := []struct {
		name, service, addr string
		ttl                 time.Duration
		want                string
	}{
		{"empty service", "", "10.0.0.1:1", time.Second, "service name"},
		{"service with a slash", "a/b", "10.0.0.1:1", time.Second, "service name"},
		{"listen address", "user", ":50051", time.Second, "no host"},
		{"unspecified IPv4", "user", "0.0.0.0:50051", time.Second, "unspecified host"},
		{"unspecified IPv6", "user", "[::]:50051", time.Second, "unspecified host"},
		{"no port", "user", "10.0.0.1", time.Second, "missing port"},
		{"port zero", "user", "10.0.0.1:0", time.Second, "no port"},
		{"zero ttl", "user", "10.0.0.1:1", 0, "must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := discovery.Register(t.Context(), cli, tt.service, tt.addr, tt.ttl)
			assert.ErrorContains(t, err, tt.want)
		})
	}
	t.Run("no client", func(t *testing.T) {
		_, err := discovery.Register(t.Context(), nil, "user", "10.0.0.1:1", time.Second)
		assert.Error(t, err)
		_, err = discovery.Resolver(nil)
		assert.Error(t, err)
	})
	t.Run("etcd unreachable", func(t *testing.T) {
		dead := etcdtest.Start(t)
		deadCli := newClient(t, dead)
		dead.Stop()
		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		defer cancel()
		_, err := discovery.Register(ctx, deadCli, "user", "10.0.0.1:1", time.Second)
		assert.ErrorContains(t, err, "grant lease")
	})
}

func TestTarget(t *testing.T) {
	assert.Equal(t, "etcd:///slipway/services/inventory", discovery.Target("inventory"))
}
