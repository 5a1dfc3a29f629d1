package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"

	apievents "github.com/slipway-dev/slipway/api/events"
	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
	orderv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/order/v1"
	userv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/user/v1"
	"github.com/slipway-dev/slipway/api/gen/openapi"
	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/client"
	"github.com/slipway-dev/slipway/platform/discovery"
	"github.com/slipway-dev/slipway/platform/events"
	"github.com/slipway-dev/slipway/platform/server"
	platformstore "github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/services/order/internal/config"
	"github.com/slipway-dev/slipway/services/order/internal/rpc"
	"github.com/slipway-dev/slipway/services/order/internal/store"
)

// Discovery timings: how long start waits for etcd, and the lease of this
// instance's registration (a crashed instance drops out within it).
const (
	etcdDialTimeout = 5 * time.Second
	registrationTTL = 10 * time.Second
)

// peers dials the services the order service calls: at their configured
// addresses, or by name through etcd when DISCOVERY selects it.
type peers struct {
	cfg  *config.Config
	tp   *sdktrace.TracerProvider
	etcd *clientv3.Client // nil with static discovery
	// resolve is the etcd resolver dial option; nil with static discovery.
	resolve grpc.DialOption
}

// newPeers connects to etcd when DISCOVERY asks for it; the cleanup closes
// the etcd client after the App has deregistered.
func newPeers(cfg *config.Config, tp *sdktrace.TracerProvider) (*peers, func(), error) {
	p := &peers{cfg: cfg, tp: tp}
	mode, endpoints, err := discovery.ParseDiscovery(cfg.Discovery)
	if err != nil {
		return nil, nil, err
	}
	if mode != discovery.Etcd {
		return p, func() {}, nil
	}
	cli, err := discovery.NewEtcdClient(endpoints, etcdDialTimeout)
	if err != nil {
		return nil, nil, err
	}
	if p.resolve, err = discovery.Resolver(cli); err != nil {
		_ = cli.Close()
		return nil, nil, err
	}
	p.etcd = cli
	return p, func() { _ = cli.Close() }, nil
}

// dial returns a connection to service: through etcd when configured,
// else at staticAddr. Every call is traced and has the peer timeout.
func (p *peers) dial(service, staticAddr string, opts ...client.Option) (*grpc.ClientConn, error) {
	target := staticAddr
	opts = append([]client.Option{client.WithTracerProvider(p.tp), client.WithTimeout(p.cfg.PeerTimeout)}, opts...)
	if p.etcd != nil {
		target = discovery.Target(service)
		opts = append(opts, client.WithDialOptions(p.resolve))
	}
	conn, err := client.Dial(target, opts...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", service, err)
	}
	return conn, nil
}

// register returns the App's registration in etcd, or nil with static
// discovery.
func (p *peers) register() server.RegisterFunc {
	if p.etcd == nil {
		return nil
	}
	return func(ctx context.Context, grpcAddr string) (func(context.Context) error, error) {
		addr, err := advertised(p.cfg.AdvertiseAddr, grpcAddr)
		if err != nil {
			return nil, err
		}
		return discovery.Register(ctx, p.etcd, config.Service, addr, registrationTTL)
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

// newUserClient dials the user service, which the order service calls only
// to log its service account in.
func newUserClient(p *peers) (userv1.UserServiceClient, func(), error) {
	// Login issues a fresh token each time: repeating it is harmless.
	conn, err := p.dial("user", p.cfg.UserAddr, client.WithRetry(userv1.UserService_Login_FullMethodName))
	if err != nil {
		return nil, nil, err
	}
	return userv1.NewUserServiceClient(conn), func() { _ = conn.Close() }, nil
}

// newTokenSource logs the order service's account in through the user
// service and keeps its token fresh.
func newTokenSource(cfg *config.Config, users userv1.UserServiceClient) client.TokenSource {
	email, password := cfg.ServiceAccountEmail(), cfg.ServiceAccountPassword
	return auth.NewLoginTokenSource(func(ctx context.Context) (string, time.Time, error) {
		resp, err := users.Login(ctx, &userv1.LoginRequest{Email: email, Password: password})
		if err != nil {
			return "", time.Time{}, fmt.Errorf("log in as %s: %w", email, err)
		}
		return resp.GetAccessToken(), resp.GetExpiresAt().AsTime(), nil
	})
}

// newInventoryClient dials inventory as the order service's account. Every
// method the order service calls is idempotent (Reserve and Release by
// order id), so each is retried on UNAVAILABLE.
func newInventoryClient(p *peers, tokens client.TokenSource) (inventoryv1.InventoryServiceClient, func(), error) {
	conn, err := p.dial("inventory", p.cfg.InventoryAddr,
		client.WithTokenSource(tokens),
		client.WithRetry(
			inventoryv1.InventoryService_GetProduct_FullMethodName,
			inventoryv1.InventoryService_ListProducts_FullMethodName,
			inventoryv1.InventoryService_Reserve_FullMethodName,
			inventoryv1.InventoryService_Release_FullMethodName,
		))
	if err != nil {
		return nil, nil, err
	}
	return inventoryv1.NewInventoryServiceClient(conn), func() { _ = conn.Close() }, nil
}

// broker is the NATS connection the relay publishes on.
type broker struct {
	nc *nats.Conn
	js jetstream.JetStream
}

// newBroker connects to NATS and makes sure the orders stream exists, so
// the first event has somewhere to go. The cleanup closes the connection
// after the App (and so the relay) has stopped.
func newBroker(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*broker, func(), error) {
	nc, js, err := events.Connect(ctx, cfg.NATSURL, config.Service, logger)
	if err != nil {
		return nil, nil, err
	}
	if err := events.EnsureStream(ctx, js, apievents.StreamOrders, []string{apievents.SubjectsOrders}); err != nil {
		nc.Close()
		return nil, nil, err
	}
	return &broker{nc: nc, js: js}, nc.Close, nil
}

// newRelay puts the outbox in the migrated database and returns the relay
// that publishes it.
func newRelay(ctx context.Context, db *platformstore.DB, b *broker, logger *slog.Logger, reg *prometheus.Registry, tp *sdktrace.TracerProvider) (*events.Relay, error) {
	if err := events.EnsureSchema(ctx, db); err != nil {
		return nil, fmt.Errorf("outbox schema: %w", err)
	}
	return events.NewRelay(db, b.js, logger, reg, tp)
}

// openStore is the order store over the database, waking the relay after
// every commit that enqueued an event.
func openStore(db *platformstore.DB, relay *events.Relay) *store.Store {
	return store.New(db, store.WithCommitHook(relay.Notify))
}

// newServer serves the order handler on every protocol with its auth
// policy; ties the database and NATS to readiness, runs the relay beside
// the servers and registers the instance when discovery is etcd.
func newServer(cfg *config.Config, logger *slog.Logger, reg *prometheus.Registry, tp *sdktrace.TracerProvider,
	db *platformstore.DB, h *rpc.Handler, v auth.Verifier, b *broker, relay *events.Relay, p *peers,
) (*server.App, error) {
	opts := []server.Option{
		server.WithService(server.Service{
			Desc:    &orderv1.OrderService_ServiceDesc,
			Impl:    h,
			Gateway: orderv1.RegisterOrderServiceHandler,
		}),
		server.WithAuth(auth.Authenticate(v, rpc.Policy())),
		server.WithOpenAPI(openapi.Order),
		server.WithCheck("database", db.Ping),
		server.WithCheck("nats", events.Check(b.nc)),
		server.WithWorker("outbox-relay", relay.Run),
	}
	if register := p.register(); register != nil {
		opts = append(opts, server.WithRegistration(register))
	}
	return server.New(cfg.Base, cfg, logger, reg, tp, opts...)
}
