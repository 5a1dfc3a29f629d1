package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
	notificationv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/notification/v1"
	orderv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/order/v1"
	userv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/user/v1"
	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/events/natstest"
	"github.com/slipway-dev/slipway/platform/tlsconfig"
	"github.com/slipway-dev/slipway/platform/tlsconfig/tlstest"
)

// tlsProtocols are the protocols a forged on-behalf-of header is sent over.
var tlsProtocols = []string{"grpc", "rest", "grpc-web", "connect"}

// tlsCluster is the shop started with TLS on, as `slipway dev --tls` and
// the prod overlay start it: per-service certificates from one CA carrying
// DNS localhost, IP 127.0.0.1 and spiffe://slipway.local/<service>; https
// JWKS; and no service account password for order.
type tlsCluster struct {
	*cluster
	ca  *tlstest.CA
	dir string
}

func tlsStartCluster(t *testing.T) *tlsCluster {
	t.Helper()
	tc := &tlsCluster{ca: tlstest.NewCA(t, "slipway e2e"), dir: t.TempDir()}
	c := &cluster{
		t: t, nats: natstest.StartOpen(t), dbs: newDatabases(t), otlp: startOTLPReceiver(t),
		env: map[string][]string{}, procs: map[string]*process{},
		secret: randomHex(t, 12), keyFile: filepath.Join(t.TempDir(), "user-ed25519.pem"),
	}
	tc.cluster = c
	t.Cleanup(c.stopAll)
	for _, svc := range services {
		files := tlstest.Files(t, tc.dir, svc, tc.ca.Service(t, svc), tc.ca)
		jwks := "https://127.0.0.1:1/unused" // the user service verifies with its own key
		if u, ok := c.procs["user"]; ok {
			jwks = "https://" + u.httpAddr + "/.well-known/jwks.json"
		}
		// baseEnv still gives the user service SERVICE_ACCOUNTS=order:<secret>,
		// so the attacks below can log in as the order account; order
		// itself gets no password and must use its certificate.
		c.extra = []string{
			"TLS_CERT_FILE=" + files.CertFile, "TLS_KEY_FILE=" + files.KeyFile, "TLS_CA_FILE=" + files.CAFile,
			"AUTH_JWKS_URL=" + jwks, "SERVICE_ACCOUNT_PASSWORD=",
		}
		c.start(svc)
	}
	return tc
}

// tlsSource is a client certificate of tc's CA (or of ca when given).
func (tc *tlsCluster) tlsSource(t *testing.T, name string, leaf tlstest.Leaf) *tlsconfig.Source {
	t.Helper()
	s, err := tlsconfig.Load(tlstest.Files(t, tc.dir, name, leaf, tc.ca))
	require.NoError(t, err)
	return s
}

// tlsBrowser trusts the CA and presents no certificate (a browser, curl).
func (tc *tlsCluster) tlsBrowser() *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(tc.ca.Cert)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, ForceAttemptHTTP2: true,
	}}
}

// tlsClient is one caller: the certificate it presents on the gRPC port
// (and, when it names a service, on the HTTP port), its bearer token, and
// the end user it claims to act for.
type tlsClient struct {
	tc         *tlsCluster
	cert       *tlsconfig.Source
	httpCert   bool // present cert on the HTTP port too
	token      string
	onBehalfOf string
}

// tlsCall makes one call over protocol, with everything c claims. A forged
// on-behalf-of goes in every form a client could try: the header itself,
// grpc-gateway's metadata prefix, and a claim to be native gRPC.
func tlsCall[Req, Res any](t *testing.T, c tlsClient, protocol, svc, fullMethod string, route restRoute, req *Req, resp *Res) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p := c.tc.procs[svc]
	e := endpoint{protocol: protocol, http: c.tc.tlsBrowser(), baseURL: "https://" + p.httpAddr,
		headers: map[string]string{}, httpHeaders: map[string]string{}}
	if c.httpCert {
		e.http = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: c.cert.ClientConfig("127.0.0.1", ""), ForceAttemptHTTP2: true,
		}}
	}
	if c.token != "" {
		e.headers["authorization"] = "Bearer " + c.token
	}
	if c.onBehalfOf != "" {
		e.headers[auth.OnBehalfOfHeader] = c.onBehalfOf
		e.httpHeaders["Grpc-Metadata-"+auth.OnBehalfOfHeader] = c.onBehalfOf
		e.httpHeaders["X-Slipway-Protocol"] = "grpc"
		e.httpHeaders["Grpc-Metadata-X-Slipway-Protocol"] = "grpc"
	}
	if protocol == "grpc" {
		conn, err := grpc.NewClient(p.grpcAddr, grpc.WithTransportCredentials(c.cert.ClientCredentials(svc)))
		require.NoError(t, err)
		defer conn.Close()
		e.grpc = conn
	}
	return call(ctx, t, e, fullMethod, route, req, resp)
}

func (c tlsClient) notifications(t *testing.T, protocol string) ([]*notificationv1.Notification, error) {
	t.Helper()
	resp := &notificationv1.ListMyNotificationsResponse{}
	err := tlsCall(t, c, protocol, "notification", "/slipway.notification.v1.NotificationService/ListMyNotifications",
		restRoute{"GET", "/v1/notifications?pageSize=100", false}, &notificationv1.ListMyNotificationsRequest{PageSize: 100}, resp)
	return resp.GetNotifications(), err
}

func (c tlsClient) getUser(t *testing.T, protocol, id string) (*userv1.User, error) {
	t.Helper()
	resp := &userv1.GetUserResponse{}
	err := tlsCall(t, c, protocol, "user", "/slipway.user.v1.UserService/GetUser",
		restRoute{"GET", "/v1/users/" + id, false}, &userv1.GetUserRequest{Id: id}, resp)
	return resp.GetUser(), err
}

func (c tlsClient) login(t *testing.T, email, pw string) string {
	t.Helper()
	resp := &userv1.LoginResponse{}
	require.NoError(t, tlsCall(t, c, "grpc", "user", "/slipway.user.v1.UserService/Login",
		restRoute{"POST", "/v1/sessions", true}, &userv1.LoginRequest{Email: email, Password: pw}, resp))
	return resp.GetAccessToken()
}

func (c tlsClient) register(t *testing.T, name string) (id, token string) {
	t.Helper()
	email := name + "-" + randomHex(t, 4) + "@example.com"
	resp := &userv1.RegisterResponse{}
	require.NoError(t, tlsCall(t, c, "grpc", "user", "/slipway.user.v1.UserService/Register",
		restRoute{"POST", "/v1/users", true}, &userv1.RegisterRequest{Email: email, Password: password, DisplayName: "E2E"}, resp))
	return resp.GetUser().GetId(), c.login(t, email, password)
}

func (c tlsClient) with(token, onBehalfOf string) tlsClient {
	c.token, c.onBehalfOf = token, onBehalfOf
	return c
}

func tlsHealth(addr string, creds credentials.TransportCredentials) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	return err
}

// TestTLSAttacks starts the shop under mTLS and attacks it: plaintext and
// foreign-CA clients, and a forged on-behalf-of header on every protocol
// from a customer, a password service account and service certificates;
// then places an order end to end, order calling inventory by certificate.
func TestTLSAttacks(t *testing.T) {
	tc := tlsStartCluster(t)
	defer tc.dumpOnFailure()
	// A person's tool (grpcurl, the tests): a certificate of the CA that
	// names no service, as the gRPC port admits no one without one.
	tool := tlsClient{tc: tc, cert: tc.tlsSource(t, "tool", tc.ca.Issue(t, tlstest.LeafOptions{}))}
	foreign := tc.tlsSource(t, "foreign", tlstest.NewCA(t, "attacker").Service(t, "order"))

	t.Run("the gRPC ports refuse plaintext and other CAs' certificates", func(t *testing.T) {
		for _, svc := range services {
			addr := tc.procs[svc].grpcAddr
			require.NoError(t, tlsHealth(addr, tool.cert.ClientCredentials(svc)), "%s: the CA's certificate is served", svc)
			assert.Equal(t, codes.Unavailable, codeOf(grpcError(tlsHealth(addr, insecure.NewCredentials()))), "%s: plaintext", svc)
			assert.Equal(t, codes.Unavailable, codeOf(grpcError(tlsHealth(addr, foreign.ClientCredentials(svc)))), "%s: another CA", svc)
		}
	})
	t.Run("the HTTP ports serve only TLS", func(t *testing.T) {
		for _, svc := range services {
			resp, err := tc.tlsBrowser().Get("https://" + tc.procs[svc].httpAddr + "/healthz")
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			if plain, err := http.Get("http://" + tc.procs[svc].httpAddr + "/v1/products"); err == nil {
				plain.Body.Close()
				assert.Equal(t, http.StatusBadRequest, plain.StatusCode, "%s: plaintext reaches no handler", svc)
			}
		}
	})

	// The victim places an order over mTLS: order reserves stock at
	// inventory with its certificate and no password (it has none).
	victimID, victimToken := tool.register(t, "victim")
	victim := tool.with(victimToken, "")
	products := &inventoryv1.ListProductsResponse{}
	require.NoError(t, tlsCall(t, tool, "grpc", "inventory", "/slipway.inventory.v1.InventoryService/ListProducts",
		restRoute{}, &inventoryv1.ListProductsRequest{PageSize: 100}, products))
	var product *inventoryv1.Product
	for _, p := range products.GetProducts() {
		if p.GetStock() >= 2 {
			product = p
			break
		}
	}
	require.NotNil(t, product, "a product in stock")
	created := &orderv1.CreateOrderResponse{}
	require.NoError(t, tlsCall(t, victim, "grpc", "order", "/slipway.order.v1.OrderService/CreateOrder", restRoute{},
		&orderv1.CreateOrderRequest{IdempotencyKey: "tls-" + randomHex(t, 4), Items: []*orderv1.LineItem{{ProductId: product.GetId(), Quantity: 2}}}, created))
	assert.Equal(t, orderv1.OrderStatus_ORDER_STATUS_PLACED, created.GetOrder().GetStatus())
	after := &inventoryv1.GetProductResponse{}
	require.NoError(t, tlsCall(t, tool, "grpc", "inventory", "/slipway.inventory.v1.InventoryService/GetProduct",
		restRoute{}, &inventoryv1.GetProductRequest{Id: product.GetId()}, after))
	assert.Equal(t, product.GetStock()-2, after.GetProduct().GetStock(), "inventory reserved the stock for order's certificate")
	var victimNotes []*notificationv1.Notification
	require.Eventually(t, func() bool {
		got, err := victim.notifications(t, "grpc")
		victimNotes = got
		return err == nil && len(got) == 1
	}, 20*time.Second, 100*time.Millisecond, "the victim's order notification arrives")
	assert.NotContains(t, tc.procs["order"].logs.String(), "log in as", "order never logged in with a password")

	// The attackers.
	_, malloryToken := tool.register(t, "mallory")
	serviceToken := tool.login(t, "order@"+auth.ServiceAccountDomain, tc.secret) // the leaked password of the order account
	orderCert := tc.tlsSource(t, "stolen-order", tc.ca.Service(t, "order"))
	billingCert := tc.tlsSource(t, "billing", tc.ca.Service(t, "billing"))
	attackers := []struct {
		name   string
		client tlsClient
		// wantCode is the refusal; OK means served, but as the attacker
		// (an empty list, not the victim's).
		wantCode map[string]codes.Code
	}{
		{"customer token", tool.with(malloryToken, victimID), allProtocols(codes.OK)},
		{"password service token", tool.with(serviceToken, victimID), allProtocols(codes.PermissionDenied)},
		{"a service certificate the policy does not name", tlsClient{tc: tc, cert: billingCert, httpCert: true, onBehalfOf: victimID},
			offNative(codes.PermissionDenied, codes.Unauthenticated)},
		{"order's own certificate: notifications name no service", tlsClient{tc: tc, cert: orderCert, httpCert: true, onBehalfOf: victimID},
			offNative(codes.PermissionDenied, codes.Unauthenticated)},
	}
	for _, a := range attackers {
		for _, protocol := range tlsProtocols {
			t.Run("forged on-behalf-of/"+a.name+"/"+protocol, func(t *testing.T) {
				notes, err := a.client.notifications(t, protocol)
				require.Equal(t, a.wantCode[protocol], codeOf(err), "ListMyNotifications: %v", err)
				assert.Empty(t, notes, "none of the victim's notifications")

				u, err := a.client.getUser(t, protocol, victimID)
				if a.wantCode[protocol] == codes.OK {
					assert.Equal(t, codes.NotFound, codeOf(err), "GetUser of the victim as a customer: %v", err)
				} else {
					assert.Equal(t, a.wantCode[protocol], codeOf(err), "GetUser: %v", err)
				}
				assert.Nil(t, u, "nothing of the victim's account")
			})
		}
	}

	t.Run("the victim's data is unchanged", func(t *testing.T) {
		got, err := victim.notifications(t, "grpc")
		require.NoError(t, err)
		assert.Len(t, got, len(victimNotes))
		me := &userv1.GetMeResponse{}
		require.NoError(t, tlsCall(t, victim, "grpc", "user", "/slipway.user.v1.UserService/GetMe", restRoute{}, &userv1.GetMeRequest{}, me))
		assert.Equal(t, victimID, me.GetUser().GetId())
		orders := &orderv1.ListMyOrdersResponse{}
		require.NoError(t, tlsCall(t, victim, "grpc", "order", "/slipway.order.v1.OrderService/ListMyOrders", restRoute{}, &orderv1.ListMyOrdersRequest{PageSize: 10}, orders))
		require.Len(t, orders.GetOrders(), 1)
		assert.Equal(t, orderv1.OrderStatus_ORDER_STATUS_PLACED, orders.GetOrders()[0].GetStatus())
	})
}

func allProtocols(code codes.Code) map[string]codes.Code {
	m := map[string]codes.Code{}
	for _, p := range tlsProtocols {
		m[p] = code
	}
	return m
}

// offNative is native on gRPC and other elsewhere: off the native gRPC
// listener a certificate names nobody.
func offNative(native, other codes.Code) map[string]codes.Code {
	m := allProtocols(other)
	m["grpc"] = native
	return m
}
