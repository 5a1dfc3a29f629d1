package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// Mode is how a service finds its peers.
type Mode string

// Modes ParseDiscovery returns.
const (
	// Static dials the configured peer addresses as they are (DNS names
	// resolve through gRPC's DNS resolver); the embedded default.
	Static Mode = "static"
	// Etcd registers every instance in etcd and resolves peers from it.
	Etcd Mode = "etcd"
)

// Connection health of the etcd client; etcd's server accepts pings every 5 s.
const (
	keepAliveTime     = 10 * time.Second
	keepAliveTimeout  = 3 * time.Second
	reconnectMaxDelay = 2 * time.Second
)

// etcdURLPrefix starts a DISCOVERY value that selects etcd.
const etcdURLPrefix = "etcd://"

// usage is the shape every ParseDiscovery error names.
const usage = `want "static" or "etcd://host:port[,host:port...]"`

// ParseDiscovery reads a DISCOVERY setting: "" or "static" select Static;
// "etcd://host:2379,host2:2379" selects Etcd with those endpoints.
func ParseDiscovery(s string) (Mode, []string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "" || s == string(Static):
		return Static, nil, nil
	case strings.HasPrefix(s, etcdURLPrefix):
	default:
		return "", nil, fmt.Errorf("discovery: %q: unknown mode; %s", s, usage)
	}
	list := strings.TrimSuffix(strings.TrimPrefix(s, etcdURLPrefix), "/")
	if list == "" {
		return "", nil, fmt.Errorf("discovery: %q: no etcd endpoints; %s", s, usage)
	}
	var eps []string
	for ep := range strings.SplitSeq(list, ",") {
		ep = strings.TrimSpace(ep)
		if err := validEndpoint(ep); err != nil {
			return "", nil, fmt.Errorf("discovery: %q: endpoint %q: %w; %s", s, ep, err, usage)
		}
		eps = append(eps, ep)
	}
	return Etcd, eps, nil
}

// validEndpoint accepts host:port with a numeric port.
func validEndpoint(ep string) error {
	if ep == "" {
		return errors.New("empty")
	}
	if strings.Contains(ep, "/") {
		return errors.New("not host:port")
	}
	host, port, err := net.SplitHostPort(ep)
	if err != nil {
		return errors.New("not host:port")
	}
	if host == "" {
		return errors.New("no host")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("bad port %q", port)
	}
	return nil
}

// NewEtcdClient connects to the etcd endpoints (host:port) and fails when no
// endpoint answers within dialTimeout, so a service with a wrong DISCOVERY
// stops at start with a clear error. The client's own warnings and errors
// go to logger, as the service's lines do. Close it after deregistering.
func NewEtcdClient(endpoints []string, dialTimeout time.Duration, logger *slog.Logger) (*clientv3.Client, error) {
	if len(endpoints) == 0 {
		return nil, errors.New("discovery: etcd client needs at least one endpoint")
	}
	if dialTimeout <= 0 {
		return nil, fmt.Errorf("discovery: etcd dial timeout %s must be positive", dialTimeout)
	}
	if logger == nil {
		return nil, errors.New("discovery: etcd client needs a logger")
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: dialTimeout,
		// Notice a silently dead connection within seconds, and reconnect
		// within reconnectMaxDelay of etcd coming back (gRPC's default
		// backoff grows to two minutes), so registrations recover promptly.
		DialKeepAliveTime:    keepAliveTime,
		DialKeepAliveTimeout: keepAliveTimeout,
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: reconnectMaxDelay},
			MinConnectTimeout: dialTimeout,
		})},
		Logger: etcdLogger(logger),
	})
	if err != nil {
		return nil, fmt.Errorf("discovery: connect to etcd %s: %w", strings.Join(endpoints, ","), err)
	}
	// clientv3.New connects lazily; one cheap read proves an endpoint answers.
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	if _, err := cli.Get(ctx, Prefix, clientv3.WithPrefix(), clientv3.WithCountOnly(), clientv3.WithSerializable()); err != nil {
		_ = cli.Close()
		return nil, fmt.Errorf("discovery: connect to etcd %s: %w", strings.Join(endpoints, ","), err)
	}
	return cli, nil
}
