// Package discovery finds the instances of a Slipway service. By default
// peers are static addresses; with etcd each instance registers its gRPC
// address under a lease and clients resolve the live set through a gRPC
// resolver, so a crashed instance drops out when its lease expires.
package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/naming/endpoints"
	"go.etcd.io/etcd/client/v3/naming/resolver"
	"go.uber.org/zap"
	"google.golang.org/grpc"
)

// Prefix is the etcd key prefix under which services register; an instance
// of service s at addr a lives at Prefix + s + "/" + a.
const Prefix = "slipway/services/"

// Scheme is the gRPC resolver scheme of Target.
const Scheme = "etcd"

// Re-registration backoff after the lease is lost (etcd restarted or
// unreachable for longer than the TTL).
const (
	retryMinBackoff = 100 * time.Millisecond
	retryMaxBackoff = 5 * time.Second
)

// Target returns the gRPC target that resolves service through etcd, for
// client.Dial together with the Resolver dial option.
func Target(service string) string {
	return Scheme + ":///" + Prefix + service
}

// Resolver returns the dial option that installs the etcd resolver for
// Target's scheme on one connection (not process-wide).
func Resolver(cli *clientv3.Client) (grpc.DialOption, error) {
	if cli == nil {
		return nil, errors.New("discovery: resolver needs an etcd client")
	}
	b, err := resolver.NewBuilder(cli)
	if err != nil {
		return nil, fmt.Errorf("discovery: etcd resolver: %w", err)
	}
	return grpc.WithResolvers(b), nil
}

// Register announces that an instance of service answers gRPC at addr. It
// grants a lease of ttl (whole seconds, rounded up), adds the endpoint under
// that lease and keeps the lease alive in the background; should the lease be
// lost (etcd restarted or unreachable for longer than ttl), it registers
// again with a new lease until it succeeds. ctx bounds only the initial
// registration; the registration lasts until deregister is called or cli is
// closed. A crashed instance disappears once its lease expires.
//
// The returned deregister stops the keepalive, deletes the endpoint and
// revokes the lease, bounded by its ctx; call it before draining so that
// peers stop picking the instance. Calling it again returns the first result.
//
// addr must be dialable by peers: an empty or unspecified host (":50053",
// "0.0.0.0:50053", "[::]:50053") is an error.
func Register(ctx context.Context, cli *clientv3.Client, service, addr string, ttl time.Duration) (deregister func(context.Context) error, err error) {
	if cli == nil {
		return nil, errors.New("discovery: register needs an etcd client")
	}
	if err := validService(service); err != nil {
		return nil, err
	}
	if err := validAddr(addr); err != nil {
		return nil, err
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("discovery: register %s: lease ttl %s must be positive", service, ttl)
	}
	em, err := endpoints.NewManager(cli, Prefix+service)
	if err != nil {
		return nil, fmt.Errorf("discovery: register %s: %w", service, err)
	}
	r := &registration{
		cli:  cli,
		em:   em,
		key:  Prefix + service + "/" + addr,
		addr: addr,
		ttl:  int64((ttl + time.Second - 1) / time.Second),
		done: make(chan struct{}),
	}
	lease, err := r.register(ctx)
	if err != nil {
		return nil, fmt.Errorf("discovery: register %s at %s: %w", service, addr, err)
	}
	r.lease = lease
	stop, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	go r.run(stop)
	return r.deregister, nil
}

// registration is one instance's entry in etcd and the goroutine keeping it.
type registration struct {
	cli  *clientv3.Client
	em   endpoints.Manager
	key  string
	addr string
	ttl  int64 // seconds

	stop context.CancelFunc
	done chan struct{} // closed when run returns

	mu    sync.Mutex
	lease clientv3.LeaseID

	once   sync.Once
	result error
}

// register grants a lease and puts the endpoint under it.
func (r *registration) register(ctx context.Context) (clientv3.LeaseID, error) {
	grant, err := r.cli.Grant(ctx, r.ttl)
	if err != nil {
		return 0, fmt.Errorf("grant lease: %w", err)
	}
	if err := r.em.AddEndpoint(ctx, r.key, endpoints.Endpoint{Addr: r.addr}, clientv3.WithLease(grant.ID)); err != nil {
		// The unused lease would expire on its own; revoking is tidier.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		_, _ = r.cli.Revoke(rctx, grant.ID)
		cancel()
		return 0, fmt.Errorf("add endpoint %s: %w", r.key, err)
	}
	return grant.ID, nil
}

// run keeps the current lease alive and registers again whenever the
// keepalive channel closes for any reason other than stop.
func (r *registration) run(stop context.Context) {
	defer close(r.done)
	lg := r.cli.GetLogger()
	backoff := retryMinBackoff
	for {
		r.mu.Lock()
		lease := r.lease
		r.mu.Unlock()
		since := time.Now()
		if ch, err := r.cli.KeepAlive(stop, lease); err == nil {
			// Responses only matter by their absence: the channel closes
			// when the lease is gone or was not renewed within its TTL.
			for range ch {
			}
		}
		if stop.Err() != nil || r.cli.Ctx().Err() != nil {
			return
		}
		lg.Warn("slipway discovery: lease lost; registering again", zap.String("key", r.key), zap.Int64("lease", int64(lease)))
		// A lease that dies as soon as it is made must not spin the loop.
		if time.Since(since) > time.Duration(r.ttl)*time.Second {
			backoff = retryMinBackoff
		}
		next, ok := r.reregister(stop, &backoff)
		if !ok {
			return
		}
		r.mu.Lock()
		r.lease = next
		r.mu.Unlock()
		// The key now lives under the new lease; the old one, if etcd still
		// has it after a restart, holds nothing. Revoke it rather than let it
		// linger until it expires.
		rctx, cancel := context.WithTimeout(stop, time.Second)
		_, _ = r.cli.Revoke(rctx, lease)
		cancel()
	}
}

// reregister retries register with capped exponential backoff until it
// succeeds (true) or stop or the client ends (false).
func (r *registration) reregister(stop context.Context, backoff *time.Duration) (clientv3.LeaseID, bool) {
	for {
		select {
		case <-stop.Done():
			return 0, false
		case <-r.cli.Ctx().Done():
			return 0, false
		case <-time.After(*backoff):
		}
		*backoff = min(2**backoff, retryMaxBackoff)
		attempt, cancel := context.WithTimeout(stop, time.Duration(r.ttl)*time.Second)
		lease, err := r.register(attempt)
		cancel()
		if err == nil {
			return lease, true
		}
		r.cli.GetLogger().Warn("slipway discovery: register again failed", zap.String("key", r.key), zap.Error(err))
	}
}

// deregister stops the keepalive, then deletes the key and revokes the lease.
func (r *registration) deregister(ctx context.Context) error {
	r.once.Do(func() {
		r.stop()
		<-r.done
		r.mu.Lock()
		lease := r.lease
		r.mu.Unlock()
		var errs []error
		if err := r.em.DeleteEndpoint(ctx, r.key); err != nil {
			errs = append(errs, fmt.Errorf("delete endpoint %s: %w", r.key, err))
		}
		if _, err := r.cli.Revoke(ctx, lease); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
			errs = append(errs, fmt.Errorf("revoke lease %x: %w", int64(lease), err))
		}
		if err := errors.Join(errs...); err != nil {
			r.result = fmt.Errorf("discovery: deregister %s: %w", r.key, err)
		}
	})
	return r.result
}

// validService rejects names that would escape or nest the key prefix.
func validService(service string) error {
	if service == "" || strings.ContainsAny(service, "/ \t\r\n") {
		return fmt.Errorf("discovery: service name %q must be non-empty, without '/' or spaces", service)
	}
	return nil
}

// validAddr requires host:port with a host that peers can dial.
func validAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("discovery: address %q: %w", addr, err)
	}
	if port == "" || port == "0" {
		return fmt.Errorf("discovery: address %q has no port", addr)
	}
	if host == "" {
		return fmt.Errorf("discovery: address %q has no host; register the address peers dial, not the listen address", addr)
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return fmt.Errorf("discovery: address %q has the unspecified host %s; register the address peers dial, not the listen address", addr, host)
	}
	return nil
}
