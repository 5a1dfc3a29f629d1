package loadgen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/envvar"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// Caps that keep a run bounded in count and time: at most 5000 requests a
// second for ten minutes, three million in all.
const (
	MaxRate     = 5000
	MaxDuration = 10 * time.Minute
	MaxInflight = 10000
	MaxTimeout  = time.Minute // the histogram's top
	MaxWarmup   = time.Minute
	maxUsers    = 1000
	maxBody     = 1 << 20
)

// Scenarios.
const (
	ScenarioOrder = "create-order"
	ScenarioRPC   = "rpc"
	ScenarioHTTP  = "http"
)

// Options say what to send, how fast and for how long.
type Options struct {
	Scenario    string        // create-order, rpc or http
	Rate        float64       // intended requests per second
	Duration    time.Duration // how long requests are sent
	MaxInflight int           // concurrency cap
	Timeout     time.Duration // per request
	Warmup      time.Duration // sent at the same rate before the measured run, not counted

	// create-order
	Users            int
	Protocol         string // grpc or rest
	UserAddr         string
	OrderAddr        string
	InventoryAddr    string
	NotificationAddr string
	OrderHTTPAddr    string
	Restock          bool
	UserLookups      bool // create-order: GetMe before each CreateOrder

	// rpc and http
	Method  string   // rpc: full method name; http: GET, POST...
	Data    string   // rpc: request in protojson
	Addr    string   // rpc: gRPC address; "" is the method's service default
	URL     string   // http
	Body    string   // http; @file reads a file
	Headers []string // "Name: value", gRPC metadata for rpc

	TLS     *tls.Config // nil: plaintext; else https and mTLS with it
	Stderr  io.Writer   // where the setup reports
	Environ []string    // where the dev admin's credentials are looked up; nil is the process's
}

// WithDefaults fills in the names and addresses left empty; numbers are
// the caller's to set (flags have their defaults), and validate rejects a zero.
func (o Options) WithDefaults() Options {
	if o.Scenario == "" {
		o.Scenario = ScenarioOrder
	}
	if o.Protocol == "" {
		o.Protocol = "grpc"
	}
	for _, a := range []struct {
		p   *string
		def string
	}{
		{&o.UserAddr, "127.0.0.1:50051"}, {&o.OrderAddr, "127.0.0.1:50052"},
		{&o.InventoryAddr, "127.0.0.1:50053"}, {&o.NotificationAddr, "127.0.0.1:50054"},
		{&o.OrderHTTPAddr, "127.0.0.1:8082"},
	} {
		if *a.p == "" {
			*a.p = a.def
		}
	}
	if o.Data == "" {
		o.Data = "{}"
	}
	if o.Scenario == ScenarioHTTP && o.Method == "" {
		o.Method = http.MethodGet
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	return o
}

// Validate checks the options and puts every address in dialable form.
func (o *Options) Validate() error {
	if err := o.CheckLimits(); err != nil {
		return err
	}
	if _, err := ParseHeaders(o.Headers); err != nil {
		return err
	}
	return o.CheckTargets()
}

// CheckLimits checks the scenario's name and the figures against the caps.
func (o *Options) CheckLimits() error {
	switch o.Scenario {
	case ScenarioOrder, ScenarioRPC, ScenarioHTTP:
	default:
		return fmt.Errorf("--scenario %q: want create-order, rpc or http", o.Scenario)
	}
	if !(o.Rate > 0 && o.Rate <= MaxRate) {
		return fmt.Errorf("--rate %v: want more than 0 and at most %d per second", o.Rate, MaxRate)
	}
	if o.Duration <= 0 || o.Duration > MaxDuration {
		return fmt.Errorf("--duration %s: want more than 0 and at most %s", o.Duration, MaxDuration)
	}
	if (Schedule{Rate: o.Rate, Duration: o.Duration}).Len() == 0 {
		return fmt.Errorf("--rate %v for --duration %s sends no request", o.Rate, o.Duration)
	}
	if o.MaxInflight < 1 || o.MaxInflight > MaxInflight {
		return fmt.Errorf("--max-inflight %d: want 1 to %d", o.MaxInflight, MaxInflight)
	}
	if o.Warmup < 0 || o.Warmup > MaxWarmup {
		return fmt.Errorf("--warmup %s: want 0 to %s", o.Warmup, MaxWarmup)
	}
	if o.Timeout <= 0 || o.Timeout > MaxTimeout {
		return fmt.Errorf("--timeout %s: want more than 0 and at most %s", o.Timeout, MaxTimeout)
	}
	return nil
}

// CheckTargets checks what the scenario needs and puts every address in
// dialable form.
func (o *Options) CheckTargets() error {
	var err error
	switch o.Scenario {
	case ScenarioOrder:
		if o.Users < 1 || o.Users > maxUsers {
			return fmt.Errorf("--users %d: want 1 to %d", o.Users, maxUsers)
		}
		if o.Protocol != "grpc" && o.Protocol != "rest" {
			return fmt.Errorf("--protocol %q: want grpc or rest", o.Protocol)
		}
		for _, a := range []struct {
			flag string
			p    *string
		}{
			{"--user-addr", &o.UserAddr}, {"--order-addr", &o.OrderAddr},
			{"--inventory-addr", &o.InventoryAddr}, {"--order-http-addr", &o.OrderHTTPAddr},
		} {
			if *a.p, err = LoopbackAddr(a.flag, *a.p); err != nil {
				return err
			}
		}
	case ScenarioRPC:
		if o.Method == "" {
			return errors.New("--scenario rpc needs --method, the full name of a method (slipway.inventory.v1.InventoryService/ListProducts)")
		}
		if o.Addr != "" {
			if o.Addr, err = LoopbackAddr("--addr", o.Addr); err != nil {
				return err
			}
		}
	case ScenarioHTTP:
		if o.URL == "" {
			return errors.New("--scenario http needs --url, such as http://127.0.0.1:8083/v1/products")
		}
		u, err := LoopbackURL(o.URL, o.TLS != nil)
		if err != nil {
			return err
		}
		o.URL = u.String()
		if o.Method != strings.ToUpper(o.Method) || strings.ContainsAny(o.Method, " \t/:") {
			return fmt.Errorf("--method %q: want an HTTP method such as GET or POST", o.Method)
		}
	}
	return nil
}

// ParseHeaders parses "Name: value" flags.
func ParseHeaders(raw []string) (http.Header, error) {
	h := http.Header{}
	for _, kv := range raw {
		k, v, ok := strings.Cut(kv, ":")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("--header %q: want Name: value", kv)
		}
		h.Add(k, v)
	}
	return h, nil
}

// Scenario is a scenario ready to run.
type Scenario struct {
	Target     Target
	Describe   string                // what each request is, for people
	Setup      *Setup                // what the setup did, for the result
	Background func(context.Context) // runs alongside the load, if set
	Close      func()
}

// Setup is what a scenario prepared before the run.
type Setup struct {
	Users    int      `json:"users,omitempty"`
	Products int      `json:"products,omitempty"`
	Restock  *Restock `json:"restock,omitempty"`
}

// Build prepares the scenario of opts for planned requests.
func Build(ctx context.Context, opts Options, planned int) (*Scenario, error) {
	headers, err := ParseHeaders(opts.Headers)
	if err != nil {
		return nil, cli.UsageError{Err: err}
	}
	switch opts.Scenario {
	case ScenarioRPC:
		return buildRPC(opts, headers)
	case ScenarioHTTP:
		return buildHTTP(opts, headers)
	default:
		return buildOrder(ctx, opts, planned)
	}
}

// buildRPC dials the method's service for the rpc scenario.
func buildRPC(opts Options, headers http.Header) (*Scenario, error) {
	methods, err := methods()
	if err != nil {
		return nil, err
	}
	m, err := findMethod(methods, opts.Method)
	if err != nil {
		return nil, cli.UsageError{Err: err}
	}
	addr := opts.Addr
	if addr == "" {
		addr = map[string]string{
			"user": opts.UserAddr, "order": opts.OrderAddr,
			"inventory": opts.InventoryAddr, "notification": opts.NotificationAddr,
		}[m.Service]
		if addr, err = LoopbackAddr("--"+m.Service+"-addr", addr); err != nil {
			return nil, cli.UsageError{Err: err}
		}
	}
	conn, err := DialGRPC(addr, opts.TLS)
	if err != nil {
		return nil, err
	}
	t, err := newRPCTarget(conn, m, opts.Data, headers)
	if err != nil {
		_ = conn.Close()
		return nil, cli.UsageError{Err: err}
	}
	return &Scenario{Target: t, Describe: m.FullName + " on " + addr + " (gRPC)", Close: func() { _ = conn.Close() }}, nil
}

// buildHTTP prepares the http scenario's requests.
func buildHTTP(opts Options, headers http.Header) (*Scenario, error) {
	var body []byte
	var err error
	if opts.Body != "" {
		if body, err = readBody(opts.Body); err != nil {
			return nil, cli.UsageError{Err: err}
		}
	}
	if body != nil && headers.Get("Content-Type") == "" {
		headers.Set("Content-Type", "application/json")
	}
	client := HTTPClient(opts.MaxInflight, opts.TLS)
	t := &httpTarget{client: client, method: opts.Method, url: opts.URL, body: body, headers: headers}
	return &Scenario{Target: t, Describe: opts.Method + " " + opts.URL, Close: client.CloseIdleConnections}, nil
}

// buildOrder registers and logs in the create-order scenario's users and
// stocks its products.
func buildOrder(ctx context.Context, opts Options, planned int) (*Scenario, error) {
	// The admin that `slipway dev` seeds: its variables, else its defaults.
	environ := environ(opts.Environ)
	adminEmail, adminPassword := workspace.DevAdminEmail, workspace.DevAdminPassword
	if v, _ := envvar.Lookup(environ, "ADMIN_EMAIL"); v != "" {
		adminEmail = v
	}
	if v, _ := envvar.Lookup(environ, "ADMIN_PASSWORD"); v != "" {
		adminPassword = v
	}
	s, err := NewOrderScenario(ctx, OrderOptions{
		UserAddr: opts.UserAddr, InventoryAddr: opts.InventoryAddr, OrderAddr: opts.OrderAddr,
		OrderHTTPAddr: opts.OrderHTTPAddr, Protocol: opts.Protocol,
		Users: opts.Users, Orders: planned, Restock: opts.Restock,
		AdminEmail: adminEmail, AdminPassword: adminPassword,
		MaxInflight: opts.MaxInflight, Log: opts.Stderr, TLS: opts.TLS,
	})
	if err != nil {
		return nil, err
	}
	s.UserLookups = opts.UserLookups
	describe := "CreateOrder on " + opts.OrderAddr + " (gRPC)"
	if opts.Protocol == "rest" {
		describe = "CreateOrder as POST " + s.orderURL() + " (REST)"
	}
	if opts.UserLookups {
		describe = "GetMe on " + opts.UserAddr + ", then " + describe
	}
	setup := &Setup{Users: len(s.accounts), Products: len(s.products)}
	if s.restock.Units > 0 {
		setup.Restock = &s.restock
	}
	return &Scenario{Target: s, Describe: describe, Setup: setup, Background: s.keepTokens, Close: s.Close}, nil
}

func environ(environ []string) []string {
	if environ == nil {
		return os.Environ()
	}
	return environ
}

// readBody returns the body flag's value, or the file it names with @.
func readBody(v string) ([]byte, error) {
	path, ok := strings.CutPrefix(v, "@")
	if !ok {
		if len(v) > maxBody {
			return nil, fmt.Errorf("--body: longer than %d bytes", maxBody)
		}
		return []byte(v), nil
	}
	f, err := os.Open(path) //nolint:gosec // G304: reading the file the user named is the point
	if err != nil {
		return nil, fmt.Errorf("--body: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("--body: %w", err)
	}
	if len(b) > maxBody {
		return nil, fmt.Errorf("--body %s: larger than %d bytes", path, maxBody)
	}
	return b, nil
}
