package discovery

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/google/wire"
	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"

	"github.com/slipway-dev/slipway/platform/client"
	"github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/platform/server"
	"github.com/slipway-dev/slipway/platform/tlsconfig"
)

// Discovery timings: how long start waits for etcd, and the lease of an
// instance's registration (a crashed instance drops out within it).
const (
	etcdDialTimeout = 5 * time.Second
	registrationTTL = 10 * time.Second
)

// ProviderSet provides a service's Peers from its config.Base.
var ProviderSet = wire.NewSet(NewPeers)

// Peers is how one service finds the services it calls and announces
// itself: static addresses by default, etcd when DISCOVERY says so.
type Peers struct {
	base config.Base
	tp   *sdktrace.TracerProvider
	reg  prometheus.Registerer // the client retry and circuit metrics of every connection
	etcd *clientv3.Client      // nil with static discovery
	tls  *tlsconfig.Source     // the service's certificate; nil with TLS off
	// resolve is the etcd resolver dial option; nil with static discovery.
	resolve grpc.DialOption
}

// NewPeers connects to etcd when base.Discovery asks for it, and loads the
// service's certificate when base.TLS is on. Every
// connection it dials exports its retry and circuit-breaker metrics through
// reg; the etcd client logs through logger. The cleanup closes the etcd
// client; run it after the App has deregistered.
func NewPeers(base config.Base, tp *sdktrace.TracerProvider, reg *prometheus.Registry, logger *slog.Logger) (*Peers, func(), error) {
	certs, err := tlsconfig.Load(base.TLS)
	if err != nil {
		return nil, nil, err
	}
	p := &Peers{base: base, tp: tp, tls: certs}
	if reg != nil { // a nil *Registry must not become a non-nil Registerer
		p.reg = reg
	}
	mode, endpoints, err := ParseDiscovery(base.Discovery)
	if err != nil {
		return nil, nil, err
	}
	if mode != Etcd {
		return p, func() {}, nil
	}
	cli, err := NewEtcdClient(endpoints, etcdDialTimeout, logger)
	if err != nil {
		return nil, nil, err
	}
	if p.resolve, err = Resolver(cli); err != nil {
		_ = cli.Close()
		return nil, nil, err
	}
	p.etcd = cli
	return p, func() { _ = cli.Close() }, nil
}

// Dial returns a traced connection to service: through etcd when
// configured, else at staticAddr. With TLS on it is mutual TLS: the
// service's own certificate, and a server that must prove it is service
// (spiffe://<trust domain>/<service>), whatever address it is reached at.
func (p *Peers) Dial(service, staticAddr string, opts ...client.Option) (*grpc.ClientConn, error) {
	target := staticAddr
	opts = append([]client.Option{client.WithTracerProvider(p.tp), client.WithMetrics(p.reg), client.WithTLS(p.tls, service)}, opts...)
	if p.etcd != nil {
		target = Target(service)
		opts = append(opts, client.WithDialOptions(p.resolve))
	}
	conn, err := client.Dial(target, opts...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", service, err)
	}
	return conn, nil
}

// Registration is the App's registration in etcd under the service's name,
// or nil with static discovery (server.WithRegistration(nil) registers nothing).
func (p *Peers) Registration() server.RegisterFunc {
	if p.etcd == nil {
		return nil
	}
	return func(ctx context.Context, grpcAddr string) (func(context.Context) error, error) {
		addr, err := advertised(p.base.AdvertiseAddr, grpcAddr)
		if err != nil {
			return nil, err
		}
		return Register(ctx, p.etcd, p.base.Service, addr, registrationTTL)
	}
}

// advertised is the address peers dial: the configured one, else the bound
// one with an unspecified host replaced by the host name.
func advertised(configured, bound string) (string, error) {
	if configured != "" {
		return configured, nil
	}
	host, port, err := net.SplitHostPort(bound)
	if err != nil {
		return "", fmt.Errorf("advertised address of %q: %w", bound, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		if host, err = os.Hostname(); err != nil {
			return "", fmt.Errorf("advertised address: set ADVERTISE_ADDR: %w", err)
		}
	}
	return net.JoinHostPort(host, port), nil
}
