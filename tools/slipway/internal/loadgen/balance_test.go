package loadgen

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	userv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/user/v1"
)

// userInstance is one real instance of a user service: GetMe answers (or
// refuses with UNAVAILABLE, as one that is stopping does), Register too.
type userInstance struct {
	userv1.UnimplementedUserServiceServer
	addr   string
	srv    *grpc.Server
	refuse atomic.Bool
	getMes atomic.Int32
	regs   atomic.Int32
}

func (u *userInstance) GetMe(context.Context, *userv1.GetMeRequest) (*userv1.GetMeResponse, error) {
	u.getMes.Add(1)
	if u.refuse.Load() {
		return nil, status.Error(codes.Unavailable, "stopping")
	}
	return &userv1.GetMeResponse{}, nil
}

func (u *userInstance) Register(context.Context, *userv1.RegisterRequest) (*userv1.RegisterResponse, error) {
	u.regs.Add(1)
	if u.refuse.Load() {
		return nil, status.Error(codes.Unavailable, "stopping")
	}
	return &userv1.RegisterResponse{}, nil
}

func startUserInstance(t *testing.T) *userInstance {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	u := &userInstance{addr: lis.Addr().String(), srv: grpc.NewServer()}
	userv1.RegisterUserServiceServer(u.srv, u)
	go func() { _ = u.srv.Serve(lis) }()
	t.Cleanup(u.srv.Stop)
	return u
}

func getMes(t *testing.T, c userv1.UserServiceClient, n int) (failed int, last error) {
	t.Helper()
	for range n {
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		if _, err := c.GetMe(ctx, &userv1.GetMeRequest{}); err != nil {
			failed++
			last = err
		}
		cancel()
	}
	return failed, last
}

func dialInstances(t *testing.T, a, b *userInstance) userv1.UserServiceClient {
	t.Helper()
	conn, err := DialGRPC(a.addr+","+b.addr, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	c := userv1.NewUserServiceClient(conn)
	// The connection is lazy, and an instance joins the rotation once
	// connected: call until round robin has reached both.
	require.Eventually(t, func() bool {
		_, _ = c.GetMe(t.Context(), &userv1.GetMeRequest{})
		return a.getMes.Load() > 0 && b.getMes.Load() > 0
	}, 5*time.Second, 5*time.Millisecond, "round robin reaches both instances")
	return c
}

func TestDialGRPCToInstancesRidesOutOneStopping(t *testing.T) {
	a, b := startUserInstance(t), startUserInstance(t)
	c := dialInstances(t, a, b)

	a.srv.Stop()
	before := b.getMes.Load()
	failed, err := getMes(t, c, 40)
	assert.Zero(t, failed, "the instance still up answers: %v", err)
	assert.GreaterOrEqual(t, b.getMes.Load()-before, int32(40))
}

func TestDialGRPCRetriesOnlyTheSafeMethods(t *testing.T) {
	a, b := startUserInstance(t), startUserInstance(t)
	c := dialInstances(t, a, b)
	a.refuse.Store(true)

	failed, err := getMes(t, c, 20)
	assert.Zero(t, failed, "GetMe is retried on the other instance: %v", err)

	// Register creates an account: it is not retried, so the calls round
	// robin sends to the refusing instance fail.
	regFailed := 0
	for range 20 {
		if _, err := c.Register(t.Context(), &userv1.RegisterRequest{}); err != nil {
			regFailed++
		}
	}
	assert.Positive(t, regFailed, "Register is never retried")
	assert.Less(t, regFailed, 20, "the other instance answers its share")
}

func TestDialGRPCToOneAddressFailsWhileItIsDown(t *testing.T) {
	a := startUserInstance(t)
	conn, err := DialGRPC(a.addr, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	c := userv1.NewUserServiceClient(conn)
	failed, err := getMes(t, c, 2)
	require.Zero(t, failed, "up: %v", err)

	a.srv.Stop()
	failed, err = getMes(t, c, 3)
	assert.Equal(t, 3, failed, "one instance: nothing answers while it is down")
	assert.Equal(t, codes.Unavailable, status.Code(err))
}

func TestLoopbackAddrList(t *testing.T) {
	got, err := LoopbackAddr("--order-addr", "localhost:50052, 127.0.0.1:50152")
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:50052,127.0.0.1:50152", got)

	_, err = LoopbackAddr("--order-addr", "127.0.0.1:50052,10.0.0.1:50152")
	require.ErrorIs(t, err, ErrNotLoopback)
	_, err = LoopbackAddr("--order-addr", "127.0.0.1:50052,")
	require.Error(t, err)
	_, err = LoopbackAddr("--order-addr", "127.0.0.1:50052,localhost:50052")
	require.ErrorContains(t, err, "listed twice")
}
