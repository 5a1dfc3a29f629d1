package doctor

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// probe is the outcome of probing one server.
type probe struct {
	addr   string
	detail string // what answered: "nats-server 2.11.0, JetStream"
	warn   string // it answered, but something is off
	err    error  // it did not answer as it should
}

// probeAll probes every address concurrently.
func probeAll(ctx context.Context, addrs []string, ask func(ctx context.Context, addr string) probe) []probe {
	checks := make([]probe, len(addrs))
	var wg sync.WaitGroup
	for i, addr := range addrs {
		wg.Go(func() { checks[i] = ask(ctx, addr) })
	}
	wg.Wait()
	return checks
}

// probesRow completes row from the probes of a configured service: FAIL
// when none answers, WARN when some do not or something is off, else OK.
func probesRow(row Row, checks []probe, fix string) Row {
	var failed, warned, answered []string
	for _, c := range checks {
		switch {
		case c.err != nil:
			failed = append(failed, c.addr+": "+errLine(c.err))
		case c.warn != "":
			warned = append(warned, c.addr+": "+c.warn)
		default:
			answered = append(answered, c.addr+": "+c.detail)
		}
	}
	row.Found = strings.Join(slices.Concat(failed, warned, answered), "; ")
	switch {
	case len(failed) == len(checks):
		row.Status = Fail
	case len(failed)+len(warned) > 0:
		row.Status = Warn
	default:
		row.Status = OK
		return row
	}
	row.Fix = fix
	return row
}

// serverAddr is the host:port of one server URL ("nats://host:4222", or a
// bare "host" or "host:port"), with defaultPort when it names none. Its
// errors never repeat the URL, which may hold a password.
func serverAddr(raw, defaultPort string) (string, error) {
	if !strings.Contains(raw, "://") {
		raw = "tcp://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		return "", errors.New("not a URL with a host")
	}
	port := u.Port()
	if port == "" {
		port = defaultPort
	}
	return net.JoinHostPort(u.Hostname(), port), nil
}

func dial(ctx context.Context, addr string, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if op := (*net.OpError)(nil); errors.As(err, &op) {
		return nil, op.Err // the row names the address already
	}
	if err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(timeout))
	return conn, nil
}

// notConfigured is the FOUND text of a service left to its embedded default.
func notConfigured(def string) string { return "not configured (embedded default: " + def + ")" }

// checkPostgres pings PostgreSQL when DATABASE_URL names it, with the
// URL's credentials, as the services will connect.
func checkPostgres(ctx context.Context, e *checkEnv) []Row {
	row := Row{Check: "PostgreSQL", Expected: "answers at DATABASE_URL, when postgres://"}
	raw := e.getenv("DATABASE_URL")
	scheme, _, _ := strings.Cut(raw, "://")
	switch {
	case raw == "":
		row.Found, row.Status = notConfigured("SQLite"), OK
	case scheme == "sqlite":
		row.Found, row.Status = notConfigured("SQLite, as DATABASE_URL says"), OK
	case scheme == "postgres" || scheme == "postgresql":
		row = probesRow(row, []probe{pingPostgres(ctx, raw, e.timeout)},
			"start PostgreSQL and create the database and role DATABASE_URL names, or unset DATABASE_URL to use SQLite")
	default:
		row.Found, row.Status = fmt.Sprintf("DATABASE_URL scheme %q", scheme), Fail
		row.Fix = "the services accept sqlite://path or postgres://user:password@host:5432/db"
	}
	return []Row{row}
}

func pingPostgres(ctx context.Context, raw string, timeout time.Duration) probe {
	cfg, err := pgx.ParseConfig(raw)
	if err != nil {
		// pgx's parse errors mask the password.
		return probe{addr: "DATABASE_URL", err: err}
	}
	cfg.ConnectTimeout = timeout
	c := probe{addr: net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))) + "/" + cfg.Database}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		c.err = err
		return c
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	if err := conn.Ping(ctx); err != nil {
		c.err = err
		return c
	}
	c.detail = "PostgreSQL " + conn.PgConn().ParameterStatus("server_version")
	return c
}

// checkNATS reads the INFO line every NATS server sends on connect, from
// each server NATS_URL lists.
func checkNATS(ctx context.Context, e *checkEnv) []Row {
	row := Row{Check: "NATS", Expected: "answers at NATS_URL, when set"}
	raw := e.getenv("NATS_URL")
	if strings.TrimSpace(raw) == "" {
		row.Found, row.Status = notConfigured("slipway dev runs NATS itself"), OK
		return []Row{row}
	}
	var addrs []string
	var bad []probe
	for i, s := range strings.Split(raw, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		addr, err := serverAddr(s, "4222")
		if err != nil {
			bad = append(bad, probe{addr: fmt.Sprintf("NATS_URL entry %d", i+1), err: err})
			continue
		}
		addrs = append(addrs, addr)
	}
	checks := probeAll(ctx, addrs, func(ctx context.Context, addr string) probe {
		return probeNATS(ctx, addr, e.timeout)
	})
	return []Row{probesRow(row, slices.Concat(bad, checks),
		"start nats-server -js (JetStream on), fix NATS_URL, or unset it to use the NATS that slipway dev embeds")}
}

func probeNATS(ctx context.Context, addr string, timeout time.Duration) probe {
	c := probe{addr: addr}
	conn, err := dial(ctx, addr, timeout)
	if err != nil {
		c.err = err
		return c
	}
	defer conn.Close()
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		c.err = fmt.Errorf("no INFO line from the server: %w", err)
		return c
	}
	payload, ok := strings.CutPrefix(line, "INFO ")
	if !ok {
		c.err = fmt.Errorf("not a NATS server: it sent %q", cell(strings.TrimSpace(line)))
		return c
	}
	var info struct {
		Version   string `json:"version"`
		JetStream bool   `json:"jetstream"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(payload)), &info); err != nil {
		c.err = fmt.Errorf("not a NATS server: its INFO is not JSON: %w", err)
		return c
	}
	switch {
	case info.Version == "":
		c.detail = "NATS INFO"
	case info.JetStream:
		c.detail = "nats-server " + info.Version + ", JetStream"
	default:
		// The server leaves "jetstream" out when it is off.
		c.warn = "nats-server " + info.Version + " without JetStream, which the outbox relay and consumers need"
	}
	return c
}

// checkRedis sends PING (after AUTH when the URL has a password) to the
// server REDIS_URL names.
func checkRedis(ctx context.Context, e *checkEnv) []Row {
	row := Row{Check: "Redis", Expected: "answers PING at REDIS_URL, when set"}
	raw := strings.TrimSpace(e.getenv("REDIS_URL"))
	if raw == "" {
		row.Found, row.Status = notConfigured("in-memory cache"), OK
		return []Row{row}
	}
	return []Row{probesRow(row, []probe{pingRedis(ctx, raw, e.timeout)},
		"start Redis, fix REDIS_URL (redis://[:password@]host:6379), or unset it to cache in memory")}
}

func pingRedis(ctx context.Context, raw string, timeout time.Duration) probe {
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" || (u.Scheme != "redis" && u.Scheme != "rediss") {
		return probe{addr: "REDIS_URL", err: errors.New("want redis://[user:password@]host[:port][/db] or rediss://")}
	}
	port := u.Port()
	if port == "" {
		port = "6379"
	}
	c := probe{addr: net.JoinHostPort(u.Hostname(), port)}
	conn, err := dial(ctx, c.addr, timeout)
	if err != nil {
		c.err = err
		return c
	}
	defer conn.Close()
	if u.Scheme == "rediss" {
		tc := tls.Client(conn, &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12})
		if err := tc.HandshakeContext(ctx); err != nil {
			c.err = fmt.Errorf("TLS: %w", err)
			return c
		}
		conn = tc
	}
	r := bufio.NewReader(conn)
	if password, ok := u.User.Password(); ok {
		args := []string{"AUTH", password}
		if name := u.User.Username(); name != "" {
			args = []string{"AUTH", name, password}
		}
		if reply, err := redisCall(conn, r, args...); err != nil || reply != "+OK" {
			c.err = redisError("AUTH", reply, err)
			return c
		}
	}
	reply, err := redisCall(conn, r, "PING")
	if err != nil || reply != "+PONG" {
		c.err = redisError("PING", reply, err)
		return c
	}
	c.detail = "PONG"
	return c
}

// redisCall sends one command in RESP and reads the first line of the reply.
func redisCall(w io.Writer, r *bufio.Reader, args ...string) (string, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return "", err
	}
	line, err := r.ReadString('\n')
	return strings.TrimRight(line, "\r\n"), err
}

func redisError(cmd, reply string, err error) error {
	if err != nil {
		return fmt.Errorf("%s: no reply: %w", cmd, err)
	}
	return fmt.Errorf("%s: the server said %q", cmd, cell(reply))
}

// checkEtcd connects to every etcd endpoint DISCOVERY=etcd://... lists.
func checkEtcd(ctx context.Context, e *checkEnv) []Row {
	row := Row{Check: "etcd", Expected: "answers at DISCOVERY=etcd://..., when set"}
	raw := strings.TrimSpace(e.getenv("DISCOVERY"))
	list, isEtcd := strings.CutPrefix(raw, "etcd://")
	switch {
	case raw == "" || raw == "static":
		row.Found, row.Status = notConfigured("static addresses"), OK
		return []Row{row}
	case !isEtcd:
		row.Found, row.Status = fmt.Sprintf("DISCOVERY=%q", raw), Fail
		row.Fix = `want "static" or "etcd://host:port[,host:port...]"`
		return []Row{row}
	}
	var addrs []string
	var bad []probe
	for ep := range strings.SplitSeq(strings.TrimSuffix(list, "/"), ",") {
		ep = strings.TrimSpace(ep)
		if _, _, err := net.SplitHostPort(ep); err != nil || ep == "" {
			bad = append(bad, probe{addr: fmt.Sprintf("%q", ep), err: errors.New("not host:port")})
			continue
		}
		addrs = append(addrs, ep)
	}
	checks := probeAll(ctx, addrs, func(ctx context.Context, addr string) probe {
		conn, err := dial(ctx, addr, e.timeout)
		if err != nil {
			return probe{addr: addr, err: err}
		}
		_ = conn.Close()
		return probe{addr: addr, detail: "accepts connections"}
	})
	return []Row{probesRow(row, slices.Concat(bad, checks),
		"start etcd (its client port, 2379), fix DISCOVERY, or unset it for static addresses")}
}
