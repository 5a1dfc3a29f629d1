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

	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
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
	last := workspace.Known[len(workspace.Known)-1]
	assert.Equal(t, fmt.Sprintf("50051-%d, 8081-%d, 8080", last.GRPCPort, last.HTTPPort), portRanges(defaultPorts()),
		"every registered service's two ports, then the console's")
	assert.Equal(t, "1, 3-4", portRanges([]Port{{1, ""}, {3, ""}, {4, ""}}))
	assert.Empty(t, portRanges(nil))
}

func TestSocketsRead(t *testing.T) {
	// /proc/net/tcp: sl local rem st tx:rx tr:when retrnsmt uid timeout inode
	const table = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 111 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 222 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:1F90 0100007F:D432 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000
   3: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 333 1 0000000000000000 100 0 0 10 0
   4: 0100007F:1F90 0100007F:D433 01 00000000:00000000 00:00000000 00000000  1000        0 0 1
short line
`
	var s sockets
	s.read(table, 8080)
	assert.Equal(t, map[string]bool{"socket:[111]": true}, s.listeners)
	assert.Equal(t, map[string]bool{"socket:[222]": true}, s.conns, "a connection without an inode is no one's")
	assert.True(t, s.timeWait)

	var other sockets
	other.read(table, 8082)
	assert.Empty(t, other.listeners)
	assert.Empty(t, other.conns)
	assert.False(t, other.timeWait)
	assert.Equal(t, holder{}, other.owner(), "no socket, no owner")
}
