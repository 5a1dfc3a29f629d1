package server

import (
	"context"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

func peerCtx(remote string) context.Context {
	return peer.NewContext(context.Background(), &peer.Peer{
		Addr:      &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: mustPort(remote)},
		LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 50051},
	})
}

func mustPort(s string) int {
	_, p, _ := net.SplitHostPort(s)
	n, _ := net.LookupPort("tcp", p)
	return n
}

func TestPeerConnStreamsCountPerConnectionAndForgetClosedOnes(t *testing.T) {
	const watch = "/grpc.health.v1.Health/Watch"
	a, b := peerCtx("127.0.0.1:40001"), peerCtx("127.0.0.1:40002")

	releaseA1, err := acquireConnStream(a, watch, 2)
	require.NoError(t, err)
	releaseA2, err := acquireConnStream(a, watch, 2)
	require.NoError(t, err)
	_, err = acquireConnStream(a, watch, 2)
	assert.Equal(t, codes.ResourceExhausted, status.Code(err), "a third stream on the same connection is refused")

	releaseB, err := acquireConnStream(b, watch, 2)
	require.NoError(t, err, "another connection has its own count")

	releaseA1()
	releaseA2()
	releaseB()
	peerConnStreams.Lock()
	left := len(peerConnStreams.byConn)
	peerConnStreams.Unlock()
	assert.Zero(t, left, "a connection that holds no bounded stream leaves no entry behind")

	release, err := acquireConnStream(a, "/slipway.inventory.v1.InventoryService/GetProduct", 0)
	require.NoError(t, err, "unbounded methods are not counted")
	release()
}
