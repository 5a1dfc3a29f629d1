package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"

	apievents "github.com/slipway-dev/slipway/api/events"
	notificationv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/notification/v1"
	orderv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/order/v1"
	"github.com/slipway-dev/slipway/platform/events"
	"github.com/slipway-dev/slipway/platform/events/natstest"
)

// TestSecretsNeverLeaveTheSystem runs the order flow against the live
// cluster with a webhook URL that carries secrets in its user info, path
// and query and points at a closed port, so every delivery fails with a
// *url.Error quoting the URL: the way NOTIFY_WEBHOOK_URL used to leak into
// logs, span status and dead-letter headers. It then scans everything the
// system wrote (every log line of every service, every exported span with
// its attributes, status and events, and every dead letter's headers) for
// every configured secret value, and fails on any hit.
//
// The cluster runs as in production: an authenticated broker (each service
// its own NATS user and password) and signed events, so the NATS passwords,
// order's event signing key and the consumers' producer keys are among the
// values scanned, and so are the customer's and the admin's bearer tokens.
//
// It also shows the reproduction fixed: with the webhook down, an
// order's notification is listed within seconds, and its delivery state
// says the webhook failed.
func TestSecretsNeverLeaveTheSystem(t *testing.T) {
	hook, hookSecrets := secretsClosedWebhook(t)
	spans := secretsStartSpanSink(t)
	_, eventKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	c, b := eventsCluster(t, eventKey,
		"NOTIFY_WEBHOOK_URL="+hook,
		"NOTIFY_WEBHOOK_MAX_ATTEMPTS=2",
		"NOTIFY_WEBHOOK_BACKOFF=100ms",
		"NOTIFY_WEBHOOK_MAX_BACKOFF=200ms",
		// The last value of a key wins: every span comes to the sink, which
		// keeps them whole.
		"OTEL_EXPORTER_OTLP_ENDPOINT="+spans.srv.URL,
	)
	defer c.dumpOnFailure()
	ctx := context.Background()

	s := c.shop(t, "grpc")
	_, token := customer(t, s, "secrets")
	adminToken, err := s.Login(ctx, "admin@e2e.test", "e2e-admin-password")
	require.NoError(t, err, "the admin signs in too, so the admin password passes through the system")
	// The admin's token is used, so it passes through the system too.
	_, err = c.shop(t, "rest").ListMyNotifications(ctx, adminToken)
	require.NoError(t, err)
	product := stocked(t, s, 2)
	ordered := time.Now()
	order, err := s.CreateOrder(ctx, token, "e2e-secrets-"+randomHex(t, 4), &orderv1.LineItem{ProductId: product.GetId(), Quantity: 1})
	require.NoError(t, err)

	placed := notificationsFor(t, s, token, order.GetId(), 1)
	assert.Less(t, time.Since(ordered), 10*time.Second, "the notification is listed within seconds, webhook or not")
	require.Eventually(t, func() bool {
		all, err := s.ListMyNotifications(ctx, token)
		return err == nil && len(all) == 1 && all[0].GetDeliveryState() == notificationv1.DeliveryState_DELIVERY_STATE_FAILED
	}, 20*time.Second, 100*time.Millisecond, "the delivery of %s to be given up", placed[0].GetId())

	rest := c.shop(t, "rest")
	_, err = rest.CancelOrder(ctx, token, order.GetId())
	require.NoError(t, err)
	notificationsFor(t, s, token, order.GetId(), 2)

	// A dead letter: an event the notification consumer cannot decode.
	dead, readDead := secretsDeadLetter(t, b)

	// Stop every service, so that each flushes its last spans and logs.
	procs := maps.Clone(c.procs)
	c.stopAll()

	secrets := secretsConfigured(t, c, append(hookSecrets,
		secretsValue{"the customer's bearer token", token},
		secretsValue{"the admin's bearer token", adminToken},
		secretsValue{"order's event signing key seed", events.EncodeKey(eventKey)},
	))
	require.True(t, slices.ContainsFunc(secrets, func(v secretsValue) bool { return v.name == "NATS_PASSWORD" }),
		"the NATS passwords are scanned for")
	var logs strings.Builder
	for name, p := range procs {
		logs.WriteString("== " + name + "\n" + p.logs.String() + "\n")
	}
	traced := spans.text(t)
	require.Contains(t, logs.String(), "notification delivery failed for good", "the path that leaked ran")
	require.Contains(t, traced, "notification deliver", "the notification service's delivery spans were exported")
	require.Contains(t, traced, "connection refused", "and they record the webhook error")
	if readDead {
		require.NotEmpty(t, dead, "a dead letter was written")
	}

	defer func() {
		if t.Failed() {
			for name, p := range procs {
				t.Logf("---- %s ----\n%s", name, tail(p.logs.String(), 40))
			}
		}
	}()
	for _, secret := range secrets {
		for _, where := range []struct{ name, text string }{
			{"a log line", logs.String()},
			{"a span", traced},
			{"a dead letter's headers", dead},
		} {
			if i := strings.Index(where.text, secret.value); i >= 0 {
				t.Errorf("%s (%s) leaked into %s: …%s…", secret.name, secretsMask(secret.value), where.name,
					secretsAround(where.text, i, len(secret.value), secrets))
			}
		}
	}
}

// secretsValue is one configured secret and where it came from.
type secretsValue struct{ name, value string }

// secretsClosedWebhook is a webhook URL on a port nothing listens on, with
// a random secret in its password, path and query, and those secrets.
func secretsClosedWebhook(t *testing.T) (string, []secretsValue) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	pass, team, bot, token := "pw"+randomHex(t, 8), "T"+randomHex(t, 6), "B"+randomHex(t, 6), "tok"+randomHex(t, 10)
	raw := "http://slipway-hook:" + pass + "@" + addr + "/services/" + team + "/" + bot + "?token=" + token
	return raw, []secretsValue{
		{"the webhook URL's password", pass}, {"the webhook URL's path", team},
		{"the webhook URL's path", bot}, {"the webhook URL's token", token},
	}
}

// secretsConfigured collects every secret value the services were given:
// the webhook's, every *PASSWORD*, *SECRET*, *TOKEN* and *_KEY variable
// (each service's own NATS password and event key among them),
// the service account passwords, the passwords in any URL, the signing
// key, and the customers' password.
func secretsConfigured(t *testing.T, c *cluster, hook []secretsValue) []secretsValue {
	t.Helper()
	out := append([]secretsValue{{"a customer's password", password}}, hook...)
	add := func(name, v string) {
		if len(v) >= 6 { // shorter values would match by chance
			out = append(out, secretsValue{name, v})
		}
	}
	for _, svc := range services {
		for _, kv := range append(c.baseEnv(svc), c.env[svc]...) {
			key, value, _ := strings.Cut(kv, "=")
			switch {
			case key == "SERVICE_ACCOUNTS":
				for _, acct := range strings.Split(value, ",") {
					_, pw, _ := strings.Cut(acct, ":")
					add(key, pw)
				}
			case strings.HasSuffix(key, "_URL"):
				if u, err := url.Parse(value); err == nil && u.User != nil {
					pw, _ := u.User.Password()
					add(key+"'s password", pw)
				}
			case strings.HasSuffix(key, "_FILE"):
			case strings.Contains(key, "PASSWORD"), strings.Contains(key, "SECRET"),
				strings.Contains(key, "TOKEN"), strings.HasSuffix(key, "_KEY"):
				add(key, value)
			}
		}
	}
	if pemBytes, err := os.ReadFile(c.keyFile); err == nil {
		if block, _ := pem.Decode(pemBytes); block != nil {
			body := strings.Join(strings.Fields(string(pemBytes)), "")
			add("the token signing key", body[len(body)/2:len(body)/2+32])
		}
	}
	require.GreaterOrEqual(t, len(out), 7, "the scan knows the secrets it looks for: %d", len(out))
	return out
}

// secretsDeadLetter publishes, as the broker's test administrator, an
// unsigned order event that the consumers reject, waits for its dead letter
// and returns the headers of every message in the dead-letter stream. ok is
// false when the test cannot connect to the broker (then platform/events'
// TestConsumerRedactsURLsInHandlerErrors covers the dead letter's headers).
func secretsDeadLetter(t *testing.T, b *natstest.Broker) (headersText string, ok bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	nc, err := nats.Connect(b.URL(), nats.UserInfo(natstest.Admin, b.Passwords[natstest.Admin]))
	if err != nil {
		t.Logf("dead letters not scanned: connect to NATS: %v", err)
		return "", false
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	msg := nats.NewMsg(apievents.SubjectOrderPlaced)
	msg.Data = []byte("\xff\xff not an OrderPlaced")
	msg.Header.Set(jetstream.MsgIDHeader, "e2e-secrets-"+randomHex(t, 4))
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		// A broker that refuses a forged publish leaves only the dead
		// letters the flow itself produced, if any.
		t.Logf("publishing an undecodable event was refused (%v)", err)
	}
	var headers strings.Builder
	require.Eventually(t, func() bool {
		headers.Reset()
		stream, err := js.Stream(ctx, apievents.StreamDeadLetter)
		if err != nil {
			return false
		}
		cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
		if err != nil {
			return false
		}
		batch, err := cons.FetchNoWait(1000)
		if err != nil {
			return false
		}
		for m := range batch.Messages() {
			for k, vs := range m.Headers() {
				headers.WriteString(k + ": " + strings.Join(vs, ", ") + "\n")
			}
		}
		return headers.Len() > 0
	}, 20*time.Second, 200*time.Millisecond, "a dead letter in %s", apievents.StreamDeadLetter)
	return headers.String(), true
}

// secretsSpanSink accepts OTLP/HTTP protobuf trace exports and keeps each
// one whole: every span with its attributes, status, events and links, and
// the resource.
type secretsSpanSink struct {
	srv     *httptest.Server
	mu      sync.Mutex
	exports []*collectortrace.ExportTraceServiceRequest
}

func secretsStartSpanSink(t *testing.T) *secretsSpanSink {
	t.Helper()
	s := &secretsSpanSink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		export, err := readExport(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.exports = append(s.exports, export)
		s.mu.Unlock()
		answerExport(w)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// text is every export as JSON, one per line.
func (s *secretsSpanSink) text(t *testing.T) string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for _, e := range s.exports {
		j, err := protojson.Marshal(e)
		require.NoError(t, err)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

// secretsMask shows the start of a secret, enough to tell which one.
func secretsMask(v string) string {
	return v[:min(3, len(v))] + "…"
}

// secretsAround is the text around the hit s[i:i+n] with every secret
// masked, so the failure message does not print them either: masked in the
// whole text first, so that no secret cut by the window's edge shows.
func secretsAround(s string, i, n int, secrets []secretsValue) string {
	hit := s[i : i+n]
	masked := strings.ReplaceAll(s, hit, "<HIT>")
	for _, secret := range secrets {
		masked = strings.ReplaceAll(masked, secret.value, "<SECRET>")
	}
	j := max(strings.Index(masked, "<HIT>"), 0)
	return masked[max(j-80, 0):min(j+len("<HIT>")+80, len(masked))]
}
