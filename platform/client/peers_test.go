package client_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/slipway-dev/slipway/platform/client"
)

// instance is one real gRPC server of a peer with several instances, which
// the test can stop as an orchestrator stops a pod.
type instance struct {
	peer
	addr string
	srv  *grpc.Server
}

func startInstance(t *testing.T) *instance {
	t.Helper()
	return startInstanceAt(t, "127.0.0.1:0")
}

// startInstanceAt serves an instance at addr: a restarted one on its old port.
func startInstanceAt(t *testing.T, addr string) *instance {
	t.Helper()
	lis, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	in := &instance{addr: lis.Addr().String(), srv: grpc.NewServer()}
	healthpb.RegisterHealthServer(in.srv, &in.peer)
	go func() { _ = in.srv.Serve(lis) }()
	t.Cleanup(in.srv.Stop)
	return in
}

func checkN(t *testing.T, hc healthpb.HealthClient, n int) (failed int, last error) {
	t.Helper()
	for range n {
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		_, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err != nil {
			failed++
			last = err
		}
	}
	return failed, last
}

// bothConnected calls until round robin has sent calls to both instances:
// the channel connects lazily, and an instance joins the rotation once its
// connection is up.
func bothConnected(t *testing.T, hc healthpb.HealthClient, a, b *instance) {
	t.Helper()
	require.Eventually(t, func() bool {
		_, _ = hc.Check(t.Context(), &healthpb.HealthCheckRequest{})
		return a.checks.Load() > 0 && b.checks.Load() > 0
	}, 5*time.Second, 5*time.Millisecond, "round robin reaches both instances")
}

func TestAddressListBalancesAndSurvivesAnInstanceStopping(t *testing.T) {
	a, b := startInstance(t), startInstance(t)
	hc := dial(t, a.addr+","+b.addr, client.WithRetry(methodCheck))
	bothConnected(t, hc, a, b)

	a.srv.Stop() // closes its listener and connections: a crashed pod
	before := b.checks.Load()
	failed, err := checkN(t, hc, 40)
	assert.Zero(t, failed, "the second instance answers while the first is down: %v", err)
	assert.GreaterOrEqual(t, b.checks.Load()-before, int32(40), "every call was served by the instance still up")
}

// A rolling restart: the first instance stops and comes back on its port,
// and half a second later the second stops. The first must be back in the
// rotation by then (reconnect backoff from 100 ms; gRPC's default waits
// about a second), or every call fails while the second is down.
func TestARestartedInstanceRejoinsBeforeTheNextStops(t *testing.T) {
	a, b := startInstance(t), startInstance(t)
	hc := dial(t, a.addr+","+b.addr, client.WithRetry(methodCheck))
	bothConnected(t, hc, a, b)

	a.srv.Stop()
	failed, err := checkN(t, hc, 5) // served by b; the client notices a is gone
	require.Zero(t, failed, "%v", err)
	a2 := startInstanceAt(t, a.addr)
	time.Sleep(500 * time.Millisecond)
	b.srv.Stop()

	failed, err = checkN(t, hc, 20)
	assert.Zero(t, failed, "the restarted instance serves while the other is down: %v", err)
	assert.GreaterOrEqual(t, a2.checks.Load(), int32(20))
}

func TestSingleAddressFailsWhileItsOnlyInstanceIsDown(t *testing.T) {
	a := startInstance(t)
	hc := dial(t, a.addr, client.WithRetry(methodCheck), client.WithRetryAttempts(3))
	failed, err := checkN(t, hc, 2)
	require.Zero(t, failed, "up: %v", err)

	a.srv.Stop()
	failed, err = checkN(t, hc, 5)
	assert.Equal(t, 5, failed, "with one instance, nothing can answer while it is down")
	assert.Equal(t, codes.Unavailable, status.Code(err))
}

func TestRetryOfARefusedAttemptGoesToAnotherInstance(t *testing.T) {
	a, b := startInstance(t), startInstance(t)
	a.fail(1<<30, codes.Unavailable) // a draining instance: up, refusing every call
	hc := dial(t, a.addr+","+b.addr, client.WithRetry(methodCheck), client.WithRetryAttempts(2))
	bothConnected(t, hc, a, b)

	failed, err := checkN(t, hc, 20)
	assert.Zero(t, failed, "each refused attempt is retried on the other instance: %v", err)

	// List is not retryable: round robin sends about every other call to
	// the refusing instance, and those fail.
	listFailed := 0
	for range 20 {
		if _, err := hc.List(t.Context(), &healthpb.HealthListRequest{}); err != nil {
			listFailed++
		}
	}
	assert.Positive(t, listFailed, "without a retry, the refusing instance's calls fail")
	assert.Less(t, listFailed, 20, "the other instance answers its share")
}

func TestDialRejectsABadAddressList(t *testing.T) {
	for _, list := range []string{"127.0.0.1:1,", "127.0.0.1:1,nope", "127.0.0.1:1,127.0.0.1:1", ",127.0.0.1:2"} {
		t.Run(list, func(t *testing.T) {
			_, err := client.Dial(list)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "address list")
		})
	}
}

func TestParseAddressList(t *testing.T) {
	got, err := client.ParseAddressList(" 127.0.0.1:1, localhost:2 ")
	require.NoError(t, err)
	assert.Equal(t, []string{"127.0.0.1:1", "localhost:2"}, got)
	_, err = client.ParseAddressList("127.0.0.1:1")
	assert.ErrorContains(t, err, "at least two")
}
