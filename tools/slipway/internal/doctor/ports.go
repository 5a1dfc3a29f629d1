package doctor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// Port is a port a Slipway process listens on by default.
type Port struct {
	Port int
	Use  string // "order HTTP"
}

// consolePort is where the console listens (docs/architecture.md, "Console").
const consolePort = 8080

func defaultPorts() []Port {
	var ports []Port
	for _, s := range workspace.Known {
		ports = append(ports, Port{s.GRPCPort, s.Name + " gRPC"})
	}
	for _, s := range workspace.Known {
		ports = append(ports, Port{s.HTTPPort, s.Name + " HTTP"})
	}
	return append(ports, Port{consolePort, "console"})
}

// portRanges renders ports as "50051-50054, 8081-8084, 8080", in list order.
func portRanges(ports []Port) string {
	var parts []string
	for i := 0; i < len(ports); {
		j := i
		for j+1 < len(ports) && ports[j+1].Port == ports[j].Port+1 {
			j++
		}
		if j > i {
			parts = append(parts, fmt.Sprintf("%d-%d", ports[i].Port, ports[j].Port))
		} else {
			parts = append(parts, strconv.Itoa(ports[i].Port))
		}
		i = j + 1
	}
	return strings.Join(parts, ", ")
}

// checkPorts binds every port on all interfaces, as compose publishes them;
// that also fails when something holds the port on loopback only. A port
// held only by closed connections in TIME_WAIT WARNs: it frees by itself.
func checkPorts(ctx context.Context, e *checkEnv) []Row {
	row := Row{Check: "ports", Expected: "free: " + portRanges(e.ports)}
	var held, waiting []string
	for _, p := range e.ports {
		ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", ":"+strconv.Itoa(p.Port))
		if err == nil {
			_ = ln.Close()
			continue
		}
		port := fmt.Sprintf("%d (%s)", p.Port, p.Use)
		if !errors.Is(err, syscall.EADDRINUSE) {
			held = append(held, port+" cannot be bound: "+err.Error())
			continue
		}
		switch h := portHolder(p.Port); {
		case h.timeWait:
			waiting = append(waiting, port+" in use by a closed connection in TIME_WAIT, which took it as its ephemeral port")
		case h.name != "":
			held = append(held, port+" in use by "+h.name)
		default:
			held = append(held, port+" in use")
		}
	}
	row.Found = strings.Join(slices.Concat(held, waiting), "; ")
	switch {
	case len(held) > 0:
		row.Status = Fail
		row.Fix = "stop what holds them (make run still running?), or move the services: slipway dev --grpc-port-base N --http-port-base M"
	case len(waiting) > 0:
		row.Status = Warn
		row.Fix = "wait a minute: TIME_WAIT ends by itself (the default ports lie in Linux's ephemeral range, 32768-60999)"
	default:
		row.Found, row.Status = fmt.Sprintf("all %d free", len(e.ports)), OK
	}
	return []Row{row}
}

// holder is what holds a TCP port, as far as /proc tells on Linux.
type holder struct {
	name     string // "pid 42 (inventory)", or "a connection of pid 42 (psql)"; "" unknown
	timeWait bool   // only connections in TIME_WAIT hold it
}

// portHolder reads /proc/net/tcp{,6} for the sockets bound to port and
// /proc/<pid>/fd for the process owning one; a listener wins over a
// connection that took the port as its ephemeral port.
func portHolder(port int) holder {
	var s sockets
	for _, name := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(name) //nolint:gosec // G304: one of the two /proc files above
		if err != nil {
			continue
		}
		s.read(string(data), port)
	}
	if len(s.listeners) == 0 && len(s.conns) == 0 {
		return holder{timeWait: s.timeWait}
	}
	return s.owner()
}

// sockets are the sockets bound to one port, by their /proc/<pid>/fd link
// ("socket:[inode]").
type sockets struct {
	listeners map[string]bool
	conns     map[string]bool // connections that have an inode (not TIME_WAIT)
	timeWait  bool            // some connection on the port is in TIME_WAIT
}

// read adds the sockets on port that a /proc/net/tcp table lists.
func (s *sockets) read(table string, port int) {
	const listen, timeWait = "0A", "06"
	if s.listeners == nil {
		s.listeners, s.conns = map[string]bool{}, map[string]bool{}
	}
	// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
	for line := range strings.SplitSeq(table, "\n") {
		f := strings.Fields(line)
		if len(f) < 10 {
			continue
		}
		_, hexPort, _ := strings.Cut(f[1], ":")
		if p, err := strconv.ParseUint(hexPort, 16, 16); err != nil || int(p) != port {
			continue
		}
		switch socket := "socket:[" + f[9] + "]"; {
		case f[3] == listen:
			s.listeners[socket] = true
		case f[3] == timeWait:
			s.timeWait = true
		case f[9] != "0":
			s.conns[socket] = true
		}
	}
}

// owner finds the process holding one of the sockets through /proc/<pid>/fd.
func (s *sockets) owner() holder {
	var conn string
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		fdDir := filepath.Join("/proc", p.Name(), "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
			if err != nil || (!s.listeners[link] && !s.conns[link]) {
				continue
			}
			comm, _ := os.ReadFile(filepath.Join("/proc", p.Name(), "comm"))
			proc := fmt.Sprintf("pid %d (%s)", pid, strings.TrimSpace(string(comm)))
			if s.listeners[link] {
				return holder{name: proc}
			}
			conn = "a connection of " + proc
		}
	}
	return holder{name: conn}
}
