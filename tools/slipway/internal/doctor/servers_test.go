package doctor

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestNATS(t *testing.T) {
	bare := natsGreeting(t, "{}")
	jetstream := natsGreeting(t, `{"server_id":"N1","version":"2.11.4","jetstream":true}`)
	plain := natsGreeting(t, `{"server_id":"N2","version":"2.11.4"}`)
	notNATS := serveTCP(t, func(c net.Conn) { _, _ = io.WriteString(c, "HTTP/1.1 400 Bad Request\r\n\r\n") })
	closed := closedAddr(t)
	tests := []struct {
		name, url string
		status    Status
		found     []string
	}{
		{name: "not configured", url: "", status: OK, found: []string{"not configured (embedded default"}},
		{name: "a server that says INFO", url: "nats://" + bare, status: OK, found: []string{bare + ": NATS INFO"}},
		{name: "nats-server with JetStream", url: jetstream, status: OK, found: []string{"nats-server 2.11.4, JetStream"}},
		{name: "nats-server without JetStream", url: "nats://" + plain, status: Warn, found: []string{"without JetStream"}},
		{name: "closed port", url: "nats://" + closed, status: Fail, found: []string{closed + ": ", "refused"}},
		{name: "not a NATS server", url: "nats://" + notNATS, status: Fail, found: []string{"not a NATS server"}},
		{name: "one server of two answers", url: "nats://" + closed + ", nats://" + jetstream, status: Warn, found: []string{closed, jetstream + ": nats-server"}},
		{name: "credentials stay hidden", url: "nats://ada:s3cret@" + closed, status: Fail, found: []string{closed}},
		{name: "an entry that is no URL", url: "nats://:4222", status: Fail, found: []string{"NATS_URL entry 1: not a URL with a host"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, testRepo(t), []string{"NATS_URL=" + tt.url}, nil)
			row := checkNATS(t.Context(), e)[0]
			assert.Equal(t, tt.status, row.Status, "%+v", row)
			for _, f := range tt.found {
				assert.Contains(t, row.Found, f)
			}
			assert.NotContains(t, row.Found, "s3cret")
			if row.Status == OK {
				assert.Empty(t, row.Fix)
			} else {
				assert.Contains(t, row.Fix, "nats-server -js")
			}
		})
	}
}

func TestRedis(t *testing.T) {
	open := fakeRedis(t, "")
	locked := fakeRedis(t, "s3cret")
	closed := closedAddr(t)
	tests := []struct {
		name, url string
		status    Status
		found     string
	}{
		{name: "not configured", status: OK, found: "not configured (embedded default: in-memory cache)"},
		{name: "PONG", url: "redis://" + open, status: OK, found: open + ": PONG"},
		{name: "AUTH then PONG", url: "redis://:s3cret@" + locked + "/0", status: OK, found: "PONG"},
		{name: "user and password", url: "redis://default:s3cret@" + locked, status: OK, found: "PONG"},
		{name: "password missing", url: "redis://" + locked, status: Fail, found: `PING: the server said "-NOAUTH Authentication required."`},
		{name: "wrong password", url: "redis://:nope@" + locked, status: Fail, found: "AUTH: the server said"},
		{name: "closed port", url: "redis://" + closed, status: Fail, found: closed},
		{name: "not a redis URL", url: "http://" + open, status: Fail, found: "want redis://"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, testRepo(t), []string{"REDIS_URL=" + tt.url}, nil)
			row := checkRedis(t.Context(), e)[0]
			assert.Equal(t, tt.status, row.Status, "%+v", row)
			assert.Contains(t, row.Found, tt.found)
			assert.NotContains(t, row.Found, "s3cret")
		})
	}
}

func TestEtcd(t *testing.T) {
	up := serveTCP(t, func(net.Conn) {})
	closed := closedAddr(t)
	tests := []struct {
		name, discovery string
		status          Status
		found           string
	}{
		{name: "not configured", status: OK, found: "static addresses"},
		{name: "static", discovery: "static", status: OK, found: "static addresses"},
		{name: "etcd answers", discovery: "etcd://" + up, status: OK, found: up + ": accepts connections"},
		{name: "etcd down", discovery: "etcd://" + closed + "/", status: Fail, found: closed},
		{name: "one of two down", discovery: "etcd://" + up + "," + closed, status: Warn, found: closed},
		{name: "no port", discovery: "etcd://etcd", status: Fail, found: `"etcd": not host:port`},
		{name: "unknown mode", discovery: "consul://x:8500", status: Fail, found: `DISCOVERY="consul://x:8500"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, testRepo(t), []string{"DISCOVERY=" + tt.discovery}, nil)
			row := checkEtcd(t.Context(), e)[0]
			assert.Equal(t, tt.status, row.Status, "%+v", row)
			assert.Contains(t, row.Found, tt.found)
		})
	}
}

func TestPostgres(t *testing.T) {
	closed := closedAddr(t)
	tests := []struct {
		name, url string
		status    Status
		found     string
	}{
		{name: "not configured", status: OK, found: "not configured (embedded default: SQLite)"},
		{name: "SQLite", url: "sqlite:///tmp/x.db", status: OK, found: "SQLite"},
		{name: "another database", url: "mysql://root@localhost/shop", status: Fail, found: `DATABASE_URL scheme "mysql"`},
		{name: "nothing listening", url: "postgres://slipway:s3cret@" + closed + "/shop?sslmode=disable", status: Fail, found: closed + "/shop: "},
		{name: "unparsable", url: "postgres://slipway:s3cret@[::1/shop", status: Fail, found: "DATABASE_URL: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, testRepo(t), []string{"DATABASE_URL=" + tt.url}, nil)
			row := checkPostgres(t.Context(), e)[0]
			assert.Equal(t, tt.status, row.Status, "%+v", row)
			assert.Contains(t, row.Found, tt.found)
			assert.NotContains(t, row.Found, "s3cret")
		})
	}

	t.Run("a real server answers", func(t *testing.T) {
		url := os.Getenv("POSTGRES_TEST_URL")
		if url == "" {
			url = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
		}
		e := newTestEnv(t, testRepo(t), []string{"DATABASE_URL=" + url}, nil)
		row := checkPostgres(t.Context(), e)[0]
		if row.Status != OK && os.Getenv("CI") != "true" {
			t.Skipf("PostgreSQL is not reachable (set POSTGRES_TEST_URL): %s", row.Found)
		}
		assert.Equal(t, OK, row.Status, "%+v", row)
		assert.Contains(t, row.Found, ": PostgreSQL ")
	})
}

// fakeRedis answers RESP commands: AUTH with password, then PING.
func fakeRedis(t *testing.T, password string) string {
	t.Helper()
	return serveTCP(t, func(c net.Conn) {
		r := bufio.NewReader(c)
		authed := password == ""
		for {
			args, err := readRESP(r)
			if err != nil {
				return
			}
			var reply string
			switch {
			case args[0] == "AUTH" && args[len(args)-1] == password:
				authed, reply = true, "+OK"
			case args[0] == "AUTH":
				reply = "-WRONGPASS invalid username-password pair"
			case !authed:
				reply = "-NOAUTH Authentication required."
			case args[0] == "PING":
				reply = "+PONG"
			default:
				reply = "-ERR unknown command"
			}
			_, _ = io.WriteString(c, reply+"\r\n")
		}
	})
}

// readRESP reads one RESP array of bulk strings.
func readRESP(r *bufio.Reader) ([]string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "*")))
	if err != nil || n < 1 {
		return nil, fmt.Errorf("not an array: %q", line)
	}
	args := make([]string, n)
	for i := range args {
		if _, err := r.ReadString('\n'); err != nil { // $len
			return nil, err
		}
		arg, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		args[i] = strings.TrimRight(arg, "\r\n")
	}
	return args, nil
}

func TestRedisThatDoesNotAnswer(t *testing.T) {
	silent := serveTCP(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	e := newTestEnv(t, testRepo(t), []string{"REDIS_URL=redis://" + silent}, nil)
	e.timeout = 200 * time.Millisecond
	row := checkRedis(t.Context(), e)[0]
	assert.Equal(t, Fail, row.Status)
	assert.Contains(t, row.Found, silent+": PING: no reply: ", "a partitioned Redis fails within the timeout")

	e = newTestEnv(t, testRepo(t), []string{"REDIS_URL=rediss://" + silent}, nil)
	e.timeout = 200 * time.Millisecond
	row = checkRedis(t.Context(), e)[0]
	assert.Equal(t, Fail, row.Status)
	assert.Contains(t, row.Found, silent+": TLS: ", "rediss:// needs a TLS handshake first")
}

func TestRealRedis(t *testing.T) {
	url := os.Getenv("REDIS_TEST_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	e := newTestEnv(t, testRepo(t), []string{"REDIS_URL=" + url}, nil)
	row := checkRedis(t.Context(), e)[0]
	if row.Status != OK && os.Getenv("CI") != "true" {
		t.Skipf("Redis is not reachable (set REDIS_TEST_URL): %s", row.Found)
	}
	assert.Equal(t, OK, row.Status, "%+v", row)
	assert.Contains(t, row.Found, ": PONG")
}

func TestRealNATS(t *testing.T) {
	url := os.Getenv("NATS_TEST_URL")
	if url == "" {
		url = "nats://127.0.0.1:4222"
	}
	e := newTestEnv(t, testRepo(t), []string{"NATS_URL=" + url}, nil)
	row := checkNATS(t.Context(), e)[0]
	if row.Status == Fail && os.Getenv("CI") != "true" {
		t.Skipf("NATS is not reachable (set NATS_TEST_URL): %s", row.Found)
	}
	assert.NotEqual(t, Fail, row.Status, "%+v", row)
	assert.Regexp(t, `: nats-server \d+\.\d+\.\d+`, row.Found, "the INFO line names the server's version")
}
