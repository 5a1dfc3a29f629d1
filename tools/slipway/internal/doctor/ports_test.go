package doctor

import (
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPorts(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = held.Close() })
	heldPort := held.Addr().(*net.TCPAddr).Port
	_, freeStr, _ := net.SplitHostPort(closedAddr(t))
	freePort, _ := strconv.Atoi(freeStr)

	e := newTestEnv(t, testRepo(t), nil, nil)
	e.ports = []Port{{freePort, "user gRPC"}, {heldPort, "order HTTP"}}
	row := checkPorts(t.Context(), e)[0]
	assert.Equal(t, Fail, row.Status)
	assert.Contains(t, row.Found, fmt.Sprintf("%d (order HTTP) in use", heldPort))
	assert.NotContains(t, row.Found, strconv.Itoa(freePort))
	if runtime.GOOS == "linux" {
		assert.Contains(t, row.Found, fmt.Sprintf("by pid %d (", os.Getpid()), "the holder, from /proc")
	}
	assert.Contains(t, row.Fix, "--grpc-port-base")

	e.ports = []Port{{freePort, "user gRPC"}}
	row = checkPorts(t.Context(), e)[0]
	assert.Equal(t, OK, row.Status)
	assert.Equal(t, "all 1 free", row.Found)
}

func TestPortsHeldByConnections(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the holder comes from /proc")
	}
	server := serveTCP(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	_, portStr, _ := net.SplitHostPort(closedAddr(t))
	port, _ := strconv.Atoi(portStr)
	// A client bound to a default port, as an outgoing connection can be
	// when the port lies in the ephemeral range.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}}
	conn, err := d.DialContext(t.Context(), "tcp", server)
	require.NoError(t, err)

	e := newTestEnv(t, testRepo(t), nil, nil)
	e.ports = []Port{{port, "order gRPC"}}
	row := checkPorts(t.Context(), e)[0]
	assert.Equal(t, Fail, row.Status, "%+v", row)
	assert.Contains(t, row.Found, fmt.Sprintf("%d (order gRPC) in use by a connection of pid %d (", port, os.Getpid()))

	require.NoError(t, conn.Close()) // the client closes first, so its side waits in TIME_WAIT
	require.Eventually(t, func() bool {
		row = checkPorts(t.Context(), e)[0]
		return row.Status != Fail
	}, 5*time.Second, 20*time.Millisecond)
	if row.Status == OK {
		t.Skip("the kernel let the port go without TIME_WAIT")
	}
	assert.Equal(t, Warn, row.Status, "%+v", row)
	assert.Contains(t, row.Found, "TIME_WAIT")
	assert.Contains(t, row.Fix, "wait a minute")
}

func TestPortRanges(t *testing.T) {
	assert.Equal(t, "50051-50054, 8081-8084, 8080", portRanges(defaultPorts()))
	assert.Equal(t, "1, 3-4", portRanges([]Port{{1, ""}, {3, ""}, {4, ""}}))
	assert.Empty(t, portRanges(nil))
}
