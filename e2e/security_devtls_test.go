package e2e

// The system as `slipway dev --tls` runs it: the real CLI over the e2e's
// service binaries, in a workspace of its own (so its dev CA, certificates
// and databases are the test's), on PostgreSQL when it answers. The order
// flow runs over every protocol with TLS, and the attacks check that the
// transport refuses what it must and that each service's process holds
// only its own secrets.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	inventoryv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1"
	notificationv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/notification/v1"
	orderv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/order/v1"
	userv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/user/v1"
	"github.com/slipway-dev/slipway/platform/tlsconfig/tlstest"
)

// devtlsAdminPassword is the admin password the parent environment of
// slipway dev holds: only the user service may receive it.
const devtlsAdminPassword = "devtls-admin-password-e2e"

var (
	devtlsCLIOnce sync.Once
	devtlsCLIPath string
	devtlsCLIErr  error
)

// devtlsBuildCLI builds the slipway CLI once, beside the service binaries.
func devtlsBuildCLI(t *testing.T) string {
	t.Helper()
	devtlsCLIOnce.Do(func() {
		root, err := workspaceRoot()
		if err != nil {
			devtlsCLIErr = err
			return
		}
		path := filepath.Join(binDir, "slipway")
		cmd := exec.Command("go", "build", "-o", path, "./tools/slipway")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			devtlsCLIErr = fmt.Errorf("build slipway: %w\n%s", err, out)
			return
		}
		devtlsCLIPath = path
	})
	require.NoError(t, devtlsCLIErr)
	return devtlsCLIPath
}

// devtlsOutput is dev's combined output, safe for the reader goroutine.
type devtlsOutput struct {
	mu sync.Mutex
	b  strings.Builder
}

func (o *devtlsOutput) add(line string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.b.WriteString(line + "\n")
}

func (o *devtlsOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// devtlsSystem is one running `slipway dev --tls`.
type devtlsSystem struct {
	t      *testing.T
	tlsDir string
	grpc   map[string]string // service -> gRPC address
	http   map[string]string // service -> HTTP host:port
	pids   map[string]int
	out    *devtlsOutput
}

// devtlsPortBase returns p such that p .. p+n-1 are free now.
func devtlsPortBase(t *testing.T, n int) int {
	t.Helper()
	for range 50 {
		base := freePort(t)
		free := base+n <= 65535
		for i := 1; free && i < n; i++ {
			l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:"+strconv.Itoa(base+i))
			if err != nil {
				free = false
				break
			}
			_ = l.Close()
		}
		if free {
			return base
		}
	}
	t.Fatalf("no %d consecutive free ports", n)
	return 0
}

var startedRE = regexp.MustCompile(`started (\w+) \(pid (\d+)\): gRPC (\S+), HTTP (\S+)`)

// devtlsStart runs `slipway dev --tls --no-build` in a fresh workspace whose
// .slipway/bin holds the e2e's binaries, and waits until every service is
// SERVING. Cleanup stops it with SIGINT, as Ctrl-C would.
func devtlsStart(t *testing.T) *devtlsSystem {
	t.Helper()
	cli := devtlsBuildCLI(t)
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "go.work"), []byte("go 1.26.0\n"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(root, ".slipway", "bin"), 0o755))
	for _, svc := range services {
		require.NoError(t, os.MkdirAll(filepath.Join(root, "services", svc, "cmd", svc), 0o755))
		require.NoError(t, os.Symlink(filepath.Join(binDir, svc), filepath.Join(root, ".slipway", "bin", svc)))
	}
	dbs := newDatabases(t)
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"ADMIN_PASSWORD=" + devtlsAdminPassword,
		"LOG_LEVEL=info",
	}
	for _, svc := range services {
		env = append(env, "SLIPWAY_"+strings.ToUpper(svc)+"_DATABASE_URL="+dbs.urls[svc])
	}
	grpcBase, httpBase := devtlsPortBase(t, 4), devtlsPortBase(t, 4)
	for httpBase > grpcBase-4 && httpBase < grpcBase+4 {
		httpBase = devtlsPortBase(t, 4)
	}
	cmd := exec.Command(cli, "dev", "--tls", "--no-build", "--no-watch", "--color", "never",
		"--root", root, "--console-port", "0", "--nats-port", "0", "--ready-timeout", "60s",
		"--grpc-port-base", strconv.Itoa(grpcBase), "--http-port-base", strconv.Itoa(httpBase))
	cmd.Env = env
	cmd.Dir = root
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = cmd.Stdout
	require.NoError(t, cmd.Start())

	s := &devtlsSystem{
		t: t, tlsDir: filepath.Join(root, ".slipway", "tls"),
		grpc: map[string]string{}, http: map[string]string{}, pids: map[string]int{}, out: &devtlsOutput{},
	}
	ready, exited := make(chan struct{}), make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			s.out.add(line)
			if strings.Contains(line, fmt.Sprintf("all %d services SERVING", len(services))) {
				once.Do(func() { close(ready) })
			}
		}
	}()
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("slipway dev --tls output:\n%s", tail(s.out.String(), 60))
		}
	})
	select {
	case <-ready:
	case <-exited:
		t.Fatalf("slipway dev --tls exited before every service was SERVING:\n%s", tail(s.out.String(), 60))
	case <-time.After(90 * time.Second):
		t.Fatalf("slipway dev --tls: not SERVING after 90s:\n%s", tail(s.out.String(), 60))
	}
	for _, m := range startedRE.FindAllStringSubmatch(s.out.String(), -1) {
		s.pids[m[1]], _ = strconv.Atoi(m[2])
		s.grpc[m[1]], s.http[m[1]] = m[3], m[4]
	}
	require.Len(t, s.grpc, len(services), "dev names every service's addresses")
	return s
}

// clientTLS trusts the dev CA only and presents the named certificate of
// the dev CA's directory ("" presents none).
func (s *devtlsSystem) clientTLS(cert string) *tls.Config {
	s.t.Helper()
	pem, err := os.ReadFile(filepath.Join(s.tlsDir, "ca.pem"))
	require.NoError(s.t, err)
	pool := x509.NewCertPool()
	require.True(s.t, pool.AppendCertsFromPEM(pem))
	conf := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(filepath.Join(s.tlsDir, cert+".pem"), filepath.Join(s.tlsDir, cert+"-key.pem"))
		require.NoError(s.t, err)
		conf.Certificates = []tls.Certificate{pair}
	}
	return conf
}

// devtlsClient calls the services of a devtlsSystem over one protocol,
// with TLS: gRPC presents the CLI's certificate (mTLS), REST and gRPC-Web
// go over https.
type devtlsClient struct {
	s        *devtlsSystem
	protocol string
	conns    map[string]*grpc.ClientConn
	http     *http.Client
}

func (s *devtlsSystem) client(t *testing.T, protocol string) *devtlsClient {
	t.Helper()
	c := &devtlsClient{s: s, protocol: protocol, conns: map[string]*grpc.ClientConn{},
		http: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: s.clientTLS(""), ForceAttemptHTTP2: true}}}
	t.Cleanup(func() {
		for _, conn := range c.conns {
			_ = conn.Close()
		}
		c.http.CloseIdleConnections()
	})
	return c
}

func devtlsCall[Req, Res any](ctx context.Context, c *devtlsClient, svc, fullMethod string, route restRoute, token string, req *Req, resp *Res) error {
	t := c.s.t
	e := endpoint{protocol: c.protocol, http: c.http, baseURL: "https://" + c.s.http[svc], headers: map[string]string{}}
	if token != "" {
		e.headers["authorization"] = "Bearer " + token
	}
	if c.protocol == "grpc" {
		conn, ok := c.conns[svc]
		if !ok {
			var err error
			conn, err = grpc.NewClient(c.s.grpc[svc], grpc.WithTransportCredentials(credentials.NewTLS(c.s.clientTLS("cli"))))
			require.NoError(t, err)
			c.conns[svc] = conn
		}
		e.grpc = conn
	}
	return call(ctx, t, e, fullMethod, route, req, resp)
}

// devtlsCustomer registers and logs in a new user over c.
func devtlsCustomer(t *testing.T, c *devtlsClient) string {
	t.Helper()
	ctx := t.Context()
	email := "devtls-" + c.protocol + "-" + randomHex(t, 4) + "@example.com"
	require.NoError(t, devtlsCall(ctx, c, "user", "/slipway.user.v1.UserService/Register", restRoute{"POST", "/v1/users", true}, "",
		&userv1.RegisterRequest{Email: email, Password: password, DisplayName: "TLS"}, &userv1.RegisterResponse{}))
	login := &userv1.LoginResponse{}
	require.NoError(t, devtlsCall(ctx, c, "user", "/slipway.user.v1.UserService/Login", restRoute{"POST", "/v1/sessions", true}, "",
		&userv1.LoginRequest{Email: email, Password: password}, login))
	require.NotEmpty(t, login.GetAccessToken())
	return login.GetAccessToken()
}

func devtlsStock(t *testing.T, c *devtlsClient, id string) int64 {
	t.Helper()
	resp := &inventoryv1.GetProductResponse{}
	require.NoError(t, devtlsCall(t.Context(), c, "inventory", "/slipway.inventory.v1.InventoryService/GetProduct",
		restRoute{"GET", "/v1/products/" + id, false}, "", &inventoryv1.GetProductRequest{Id: id}, resp))
	return resp.GetProduct().GetStock()
}

func devtlsProduct(t *testing.T, c *devtlsClient) *inventoryv1.Product {
	t.Helper()
	resp := &inventoryv1.ListProductsResponse{}
	require.NoError(t, devtlsCall(t.Context(), c, "inventory", "/slipway.inventory.v1.InventoryService/ListProducts",
		restRoute{"GET", "/v1/products?pageSize=100", false}, "", &inventoryv1.ListProductsRequest{PageSize: 100}, resp))
	for _, p := range resp.GetProducts() {
		if p.GetStock() >= 5 {
			return p
		}
	}
	t.Fatal("no product with 5 units")
	return nil
}

// The order flow under `slipway dev --tls`, over gRPC with mTLS, REST over
// https and gRPC-Web over https: the order is placed, stock goes down
// (order called inventory over mTLS, with no password account), and its
// notification arrives (the event went through NATS to notification).
func TestDevTLSOrderFlowOnEveryProtocol(t *testing.T) {
	s := devtlsStart(t)
	for _, protocol := range protocols {
		t.Run(protocol, func(t *testing.T) {
			c := s.client(t, protocol)
			token := devtlsCustomer(t, c)
			product := devtlsProduct(t, c)
			before := product.GetStock()

			created := &orderv1.CreateOrderResponse{}
			require.NoError(t, devtlsCall(t.Context(), c, "order", "/slipway.order.v1.OrderService/CreateOrder", restRoute{"POST", "/v1/orders", true}, token,
				&orderv1.CreateOrderRequest{IdempotencyKey: "devtls-" + protocol + "-" + randomHex(t, 4),
					Items: []*orderv1.LineItem{{ProductId: product.GetId(), Quantity: 2}}}, created))
			order := created.GetOrder()
			assert.Equal(t, orderv1.OrderStatus_ORDER_STATUS_PLACED, order.GetStatus())
			assert.Equal(t, before-2, devtlsStock(t, c, product.GetId()), "stock goes down: order reserved it at inventory over mTLS")

			require.Eventually(t, func() bool {
				resp := &notificationv1.ListMyNotificationsResponse{}
				if devtlsCall(t.Context(), c, "notification", "/slipway.notification.v1.NotificationService/ListMyNotifications",
					restRoute{"GET", "/v1/notifications?pageSize=100", false}, token, &notificationv1.ListMyNotificationsRequest{PageSize: 100}, resp) != nil {
					return false
				}
				for _, n := range resp.GetNotifications() {
					if n.GetOrderId() == order.GetId() && n.GetKind() == notificationv1.NotificationKind_NOTIFICATION_KIND_ORDER_PLACED {
						return true
					}
				}
				return false
			}, 20*time.Second, 100*time.Millisecond, "the order's notification arrives")
		})
	}
}

// Attacks on the transport of `slipway dev --tls`: a plaintext client, a
// TLS client without a certificate and one whose certificate claims to be
// the order service but comes from another CA all fail on the gRPC port,
// and plain HTTP gets no answer from the API; nothing changes.
func TestDevTLSRefusesClientsWithoutTheCA(t *testing.T) {
	s := devtlsStart(t)
	ok := s.client(t, "grpc")
	product := devtlsProduct(t, ok)
	before := devtlsStock(t, ok, product.GetId())

	foreignCA := tlstest.NewCA(t, "attacker")
	forged := tlstest.Files(t, t.TempDir(), "order", foreignCA.Service(t, "order"), foreignCA)
	forgedPair, err := tls.LoadX509KeyPair(forged.CertFile, forged.KeyFile)
	require.NoError(t, err)
	forgedTLS := s.clientTLS("") // trusts the real CA, so only the client side is wrong
	// Sent whatever authorities the server names, so the server itself
	// must refuse it (a Go client would otherwise send no certificate).
	forgedTLS.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &forgedPair, nil }

	reserve := &inventoryv1.ReserveRequest{OrderId: "devtls-attack-" + randomHex(t, 4),
		Items: []*inventoryv1.ReservationItem{{ProductId: product.GetId(), Quantity: 1}}}
	for name, creds := range map[string]credentials.TransportCredentials{
		"plaintext":                          insecure.NewCredentials(),
		"TLS without a client certificate":   credentials.NewTLS(s.clientTLS("")),
		"an order certificate of another CA": credentials.NewTLS(forgedTLS),
	} {
		t.Run(name, func(t *testing.T) {
			conn, err := grpc.NewClient(s.grpc["inventory"], grpc.WithTransportCredentials(creds))
			require.NoError(t, err)
			defer conn.Close()
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			err = conn.Invoke(ctx, "/slipway.inventory.v1.InventoryService/Reserve", reserve, &inventoryv1.ReserveResponse{})
			require.Error(t, err, "Reserve must not be reachable")
			assert.Equal(t, codes.Unavailable, codeOf(grpcError(err)), "refused in the handshake: %v", err)
		})
	}

	t.Run("plain HTTP to the API", func(t *testing.T) {
		body := strings.NewReader(`{"email":"plain@example.com","password":"` + password + `","displayName":"x"}`)
		res, err := http.Post("http://"+s.http["user"]+"/v1/users", "application/json", body)
		if err == nil {
			data, _ := io.ReadAll(res.Body)
			_ = res.Body.Close()
			assert.Equal(t, http.StatusBadRequest, res.StatusCode, "an https port answers plain HTTP with 400 only: %s", data)
			assert.NotContains(t, string(data), "plain@example.com")
		}
		rest := s.client(t, "rest")
		err = devtlsCall(t.Context(), rest, "user", "/slipway.user.v1.UserService/Login", restRoute{"POST", "/v1/sessions", true}, "",
			&userv1.LoginRequest{Email: "plain@example.com", Password: password}, &userv1.LoginResponse{})
		assert.Error(t, err, "the plain HTTP Register created no account")
	})

	assert.Equal(t, before, devtlsStock(t, ok, product.GetId()), "stock unchanged after the attacks")
}

// Each service's process holds only its own secrets: the environment of
// every process `slipway dev --tls` started, read from /proc, as an
// attacker who took over one service would read it.
func TestDevTLSEachProcessHoldsOnlyItsOwnSecrets(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/<pid>/environ")
	}
	s := devtlsStart(t)
	owners := map[string]string{
		"ADMIN_PASSWORD":           "user",
		"AUTH_SIGNING_KEY_FILE":    "user",
		"EVENTS_SIGNING_KEY":       "order", // only order publishes events
		"SERVICE_ACCOUNTS":         "",      // under mTLS, no service has a password account
		"SERVICE_ACCOUNT_PASSWORD": "",
	}
	for _, svc := range services {
		t.Run(svc, func(t *testing.T) {
			raw, err := os.ReadFile("/proc/" + strconv.Itoa(s.pids[svc]) + "/environ")
			require.NoError(t, err)
			env := map[string]string{}
			for _, kv := range strings.Split(string(raw), "\x00") {
				if k, v, ok := strings.Cut(kv, "="); ok {
					env[k] = v
				}
			}
			for name, owner := range owners {
				_, has := env[name]
				assert.Equal(t, owner == svc, has, "%s holds %s", svc, name)
			}
			assert.Equal(t, svc == "user", bytes.Contains(raw, []byte(devtlsAdminPassword)), "the admin password's value, under any name")
			assert.Equal(t, filepath.Join(s.tlsDir, svc+".pem"), env["TLS_CERT_FILE"], "its own certificate")
			assert.Equal(t, filepath.Join(s.tlsDir, svc+"-key.pem"), env["TLS_KEY_FILE"], "its own key, and no other's")
			for _, other := range services {
				if other != svc {
					assert.NotContains(t, string(raw), other+"-key.pem", "%s's key path", other)
				}
			}
		})
	}
}
