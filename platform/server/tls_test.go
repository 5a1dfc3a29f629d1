package server_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/platform/server"
	"github.com/slipway-dev/slipway/platform/telemetry"
	"github.com/slipway-dev/slipway/platform/tlsconfig"
	"github.com/slipway-dev/slipway/platform/tlsconfig/tlstest"
)

// tlsWhoAmI answers GetProduct with who the auth hook says is calling:
// Name is the subject, Description the user it acts for.
type tlsWhoAmI struct {
	inventoryv1.UnimplementedInventoryServiceServer
}

func (tlsWhoAmI) GetProduct(ctx context.Context, _ *inventoryv1.GetProductRequest) (*inventoryv1.GetProductResponse, error) {
	c, _ := auth.FromContext(ctx)
	return &inventoryv1.GetProductResponse{Product: &inventoryv1.Product{Id: "mug", Name: c.Subject, Description: c.OnBehalfOf}}, nil
}

type tlsHarness struct {
	app    *server.App
	ca     *tlstest.CA
	dir    string
	signer *auth.Signer
}

// tlsStart runs an App with TLS on, its certificate from ca, and an auth
// policy under which GetProduct names the order service.
func tlsStart(t *testing.T) *tlsHarness {
	t.Helper()
	h := &tlsHarness{ca: tlstest.NewCA(t, "slipway"), dir: t.TempDir()}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	h.signer = auth.NewSigner(key, auth.DefaultIssuer, time.Hour)

	var base config.Base
	base.SetDefaults("inventory", 0, 0)
	base.GRPCAddr, base.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0"
	base.DrainDelay = 0
	base.JWKSURL = "https://127.0.0.1:1/jwks"
	base.TLS = tlstest.Files(t, h.dir, "inventory", h.ca.Service(t, "inventory"), h.ca)
	require.NoError(t, base.Validate())

	policy := auth.Policy{inventoryv1.InventoryService_GetProduct_FullMethodName: auth.Authenticated.For("order")}
	verifier := auth.NewKeyVerifier(key.Public().(ed25519.PublicKey), auth.DefaultIssuer)
	app, err := server.New(base, &base, slog.New(slog.DiscardHandler), telemetry.NewRegistry(), sdktrace.NewTracerProvider(),
		server.WithService(server.Service{
			Desc: &inventoryv1.InventoryService_ServiceDesc, Impl: tlsWhoAmI{},
			Gateway: inventoryv1.RegisterInventoryServiceHandler,
		}),
		server.WithAuth(auth.Authenticate(verifier, policy, auth.WithTLS(base.TLS))))
	require.NoError(t, err)
	require.NoError(t, app.Listen())
	h.app = app
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
	})
	return h
}

// source is a client's certificate files: leaf, trusting the harness's CA.
func (h *tlsHarness) source(t *testing.T, name string, leaf tlstest.Leaf) *tlsconfig.Source {
	t.Helper()
	s, err := tlsconfig.Load(tlstest.Files(t, h.dir, name, leaf, h.ca))
	require.NoError(t, err)
	return s
}

func (h *tlsHarness) token(t *testing.T, c auth.Claims) string {
	t.Helper()
	token, _, err := h.signer.Sign(c)
	require.NoError(t, err)
	return token
}

func tlsHealth(addr string, creds credentials.TransportCredentials) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	return err
}

func TestTLSListeners(t *testing.T) {
	h := tlsStart(t)
	order := h.source(t, "order", h.ca.Service(t, "order"))
	foreign := h.source(t, "foreign", tlstest.NewCA(t, "attacker").Service(t, "order"))

	t.Run("gRPC: a service certificate from the CA is served", func(t *testing.T) {
		require.Eventually(t, func() bool { return tlsHealth(h.app.GRPCAddr(), order.ClientCredentials("inventory")) == nil },
			5*time.Second, 20*time.Millisecond)
	})
	t.Run("gRPC: a plaintext client is refused", func(t *testing.T) {
		assert.Equal(t, codes.Unavailable, status.Code(tlsHealth(h.app.GRPCAddr(), insecure.NewCredentials())))
	})
	t.Run("gRPC: a client certificate from another CA is refused", func(t *testing.T) {
		assert.Equal(t, codes.Unavailable, status.Code(tlsHealth(h.app.GRPCAddr(), foreign.ClientCredentials("inventory"))))
	})
	t.Run("gRPC: TLS without a client certificate is refused", func(t *testing.T) {
		cfg := order.ClientConfig("127.0.0.1", "")
		cfg.GetClientCertificate = nil
		assert.Equal(t, codes.Unavailable, status.Code(tlsHealth(h.app.GRPCAddr(), credentials.NewTLS(cfg))))
	})

	browser := tlsBrowser(h)
	t.Run("HTTP: TLS without a client certificate, h2 by ALPN", func(t *testing.T) {
		resp, err := browser.Get("https://" + h.app.HTTPAddr() + "/healthz")
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, 2, resp.ProtoMajor)
	})
	t.Run("HTTP: plaintext gets no service", func(t *testing.T) {
		resp, err := http.Get("http://" + h.app.HTTPAddr() + "/healthz")
		if err == nil {
			resp.Body.Close()
			assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "Go answers plaintext on a TLS port with 400 and nothing else")
		}
	})
	t.Run("HTTP: h2c is off", func(t *testing.T) {
		conn, err := grpc.NewClient(h.app.HTTPAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		require.NoError(t, err)
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		assert.Error(t, err)
	})
	t.Run("HTTP: a client certificate from another CA is refused", func(t *testing.T) {
		_, err := foreign.HTTPClient().Get("https://" + h.app.HTTPAddr() + "/healthz")
		assert.Error(t, err)
	})
}

// tlsBrowser trusts the CA and presents no certificate, as a browser or
// curl does.
func tlsBrowser(h *tlsHarness) *http.Client {
	cfg := &tls.Config{RootCAs: tlsPool(h.ca), MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}, Timeout: 5 * time.Second}
}

// TestTLSOnBehalfOfOnEveryProtocol forges the on-behalf-of header on every
// protocol, from a customer, from a password service token and from the
// order service's own certificate: only the certificate over native gRPC
// may act for a user.
func TestTLSOnBehalfOfOnEveryProtocol(t *testing.T) {
	h := tlsStart(t)
	order := h.source(t, "order", h.ca.Service(t, "order"))
	billing := h.source(t, "billing", h.ca.Service(t, "billing"))
	// A person's tool (grpcurl) holds a certificate from the CA that names
	// no service, since the gRPC port takes no caller without one.
	tool := h.source(t, "tool", h.ca.Issue(t, tlstest.LeafOptions{}))
	customer := h.token(t, auth.Claims{Subject: "alice", Role: auth.RoleCustomer})
	password := h.token(t, auth.Claims{Subject: "order-account", Email: "order@" + auth.ServiceAccountDomain, Role: auth.RoleService})
	const victim = "bob"

	type result = tlsResult
	// Each protocol call presents cert's certificate (none when nil) and
	// token (none when ""), with the forged header.
	calls := map[string]func(t *testing.T, cert *tlsconfig.Source, token string) result{
		"grpc": func(t *testing.T, cert *tlsconfig.Source, token string) result {
			creds := credentials.NewTLS(&tls.Config{RootCAs: tlsPool(h.ca), ServerName: "127.0.0.1"})
			if cert != nil {
				creds = cert.ClientCredentials("inventory")
			}
			conn, err := grpc.NewClient(h.app.GRPCAddr(), grpc.WithTransportCredentials(creds))
			require.NoError(t, err)
			defer conn.Close()
			md := metadata.Pairs(auth.OnBehalfOfHeader, victim)
			if token != "" {
				md.Append("authorization", "Bearer "+token)
			}
			resp, err := inventoryv1.NewInventoryServiceClient(conn).GetProduct(metadata.NewOutgoingContext(context.Background(), md), &inventoryv1.GetProductRequest{Id: "mug"})
			return result{status.Code(err), resp.GetProduct().GetName(), resp.GetProduct().GetDescription()}
		},
		"rest": func(t *testing.T, cert *tlsconfig.Source, token string) result {
			req, err := http.NewRequest(http.MethodGet, "https://"+h.app.HTTPAddr()+"/v1/products/mug", nil)
			require.NoError(t, err)
			req.Header.Set(auth.OnBehalfOfHeader, victim)
			req.Header.Set("Grpc-Metadata-"+auth.OnBehalfOfHeader, victim)
			req.Header.Set("Grpc-Metadata-X-Slipway-Protocol", "grpc") // and pretend to be native gRPC
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := tlsHTTP(h, cert).Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK {
				var p server.Problem
				require.NoError(t, json.Unmarshal(body, &p), string(body))
				return result{code: codeFromName(p.Code)}
			}
			var out struct {
				Product struct{ Name, Description string }
			}
			require.NoError(t, json.Unmarshal(body, &out), string(body))
			return result{codes.OK, out.Product.Name, out.Product.Description}
		},
		"grpc-web": func(t *testing.T, cert *tlsconfig.Source, token string) result {
			return tlsConnect(t, h, cert, token, victim, connect.WithGRPCWeb())
		},
		"connect": func(t *testing.T, cert *tlsconfig.Source, token string) result {
			return tlsConnect(t, h, cert, token, victim)
		},
	}
	for protocol, call := range calls {
		native := protocol == "grpc"
		t.Run(protocol, func(t *testing.T) {
			t.Run("customer token", func(t *testing.T) {
				assert.Equal(t, result{codes.OK, "alice", ""}, call(t, tool, customer))
			})
			t.Run("customer token beside the named service's certificate", func(t *testing.T) {
				assert.Equal(t, result{codes.OK, "alice", ""}, call(t, order, customer), "the token names the caller")
			})
			t.Run("a certificate naming no service, and no token", func(t *testing.T) {
				assert.Equal(t, result{code: codes.Unauthenticated}, call(t, tool, ""))
			})
			t.Run("password service token is refused", func(t *testing.T) {
				assert.Equal(t, result{code: codes.PermissionDenied}, call(t, order, password))
			})
			t.Run("service certificate not named", func(t *testing.T) {
				want := result{code: codes.Unauthenticated} // off native gRPC a certificate names nobody
				if native {
					want = result{code: codes.PermissionDenied}
				}
				assert.Equal(t, want, call(t, billing, ""))
			})
			t.Run("the named service certificate", func(t *testing.T) {
				want := result{code: codes.Unauthenticated}
				if native {
					want = result{codes.OK, "order", victim}
				}
				assert.Equal(t, want, call(t, order, ""))
			})
		})
	}
}

// tlsResult is what one call got: its code, and whom the server saw.
type tlsResult struct {
	code    codes.Code
	subject string
	obo     string
}

func tlsConnect(t *testing.T, h *tlsHarness, cert *tlsconfig.Source, token, victim string, opts ...connect.ClientOption) tlsResult {
	t.Helper()
	type result = tlsResult
	c := connect.NewClient[inventoryv1.GetProductRequest, inventoryv1.GetProductResponse](
		tlsHTTP(h, cert), "https://"+h.app.HTTPAddr()+"/slipway.inventory.v1.InventoryService/GetProduct", opts...)
	req := connect.NewRequest(&inventoryv1.GetProductRequest{Id: "mug"})
	req.Header().Set(auth.OnBehalfOfHeader, victim)
	req.Header().Set("X-Slipway-Protocol", "grpc") // pretend to be native gRPC
	if token != "" {
		req.Header().Set("Authorization", "Bearer "+token)
	}
	resp, err := c.CallUnary(context.Background(), req)
	if err != nil {
		return result{code: codes.Code(connect.CodeOf(err))}
	}
	return result{codes.OK, resp.Msg.GetProduct().GetName(), resp.Msg.GetProduct().GetDescription()}
}

func tlsPool(ca *tlstest.CA) *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return pool
}

// tlsHTTP is an HTTP client that trusts the CA and presents cert's
// certificate, or none when cert is nil.
func tlsHTTP(h *tlsHarness, cert *tlsconfig.Source) *http.Client {
	if cert == nil {
		return tlsBrowser(h)
	}
	cfg := cert.ClientConfig("127.0.0.1", "")
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}, Timeout: 5 * time.Second}
}
