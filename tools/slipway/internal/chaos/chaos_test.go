package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/clitest"
	"github.com/slipway-dev/slipway/tools/slipway/internal/faultproxy"
	"github.com/slipway-dev/slipway/tools/slipway/internal/fleet"
	"github.com/slipway-dev/slipway/tools/slipway/internal/loadgen"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	redisExp := filepath.Join(dir, "redis.yaml")
	require.NoError(t, os.WriteFile(redisExp, []byte("load: {rate: 1, duration: 10s}\nfaults: [{at: 1s, for: 1s, network: {dependency: redis, partition: blackhole}}]\n"), 0o600))
	pgExp := filepath.Join(dir, "pg.yaml")
	require.NoError(t, os.WriteFile(pgExp, []byte("load: {rate: 1, duration: 10s}\nfaults: [{at: 1s, for: 1s, network: {dependency: postgres, latency: 1ms}}]\n"), 0o600))
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no experiment", nil, cli.ExitUsage, "name at least one experiment file"},
		{"bad --env", []string{"--env", "order=X", redisExp}, cli.ExitUsage, `"order=X": want svc:KEY=VALUE`},
		{"--env of an unknown service", []string{"--env", "billing:X=1", redisExp}, cli.ExitUsage, "unknown service billing"},
		{"bad --scale", []string{"--scale", "0", redisExp}, cli.ExitUsage, "--scale 0"},
		{"sqlite --database-url", []string{"--database-url", "sqlite:///tmp/x.db", redisExp}, cli.ExitUsage, "want a postgres:// server URL"},
		{"missing file", []string{filepath.Join(dir, "nope.yaml")}, cli.ExitFailed, "no such file"},
		{"redis fault without Redis", []string{redisExp}, cli.ExitFailed, "needs Redis: set REDIS_URL"},
		{"postgres fault without PostgreSQL", []string{pgExp}, cli.ExitFailed, "needs PostgreSQL: set DATABASE_URL"},
		{"--duration shorter than the faults", []string{"--duration", "1s", "--redis-url", "redis://127.0.0.1:6379", redisExp}, cli.ExitFailed, "with the command-line overrides: faults[0].for"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			env := &cli.Env{Stdout: &stdout, Stderr: &stderr, Environ: []string{"PATH=" + os.Getenv("PATH")}}
			code := runCLI(t.Context(), append([]string{"chaos"}, tt.args...), env)
			assert.Equal(t, tt.code, code, stderr.String())
			assert.Contains(t, stderr.String(), tt.want)
		})
	}
}

// Experiments whose dependency is not configured are skipped, not fatal:
// the others still run (`make chaos` with no arguments).
func TestSkipsExperimentsWithoutTheirDependency(t *testing.T) {
	dir := t.TempDir()
	redisExp := filepath.Join(dir, "redis.yaml")
	require.NoError(t, os.WriteFile(redisExp, []byte("load: {rate: 1, duration: 10s}\nfaults: [{at: 1s, for: 1s, network: {dependency: redis, partition: blackhole}}]\n"), 0o600))
	grpcExp := filepath.Join(dir, "grpc.yaml")
	require.NoError(t, os.WriteFile(grpcExp, []byte(minimalExperiment), 0o600))
	exps, err := loadExperiments(Options{Files: []string{redisExp, grpcExp}, Scale: 1})
	require.NoError(t, err)
	require.Len(t, exps, 2)
	assert.Contains(t, exps[0].skip, "needs Redis")
	assert.Empty(t, exps[1].skip, "the gRPC experiment needs nothing more")
	exps, err = loadExperiments(Options{Files: []string{redisExp}, Scale: 1, RedisURL: "redis://127.0.0.1:6379"})
	require.NoError(t, err)
	assert.Empty(t, exps[0].skip, "Redis is configured")
}

// A broker whose ORDERS stream holds messages would redeliver an earlier
// run's events: chaos refuses it, and accepts a fresh one.
func TestRefusesABrokerWithOldEvents(t *testing.T) {
	b, err := fleet.StartBroker(t.TempDir(), "127.0.0.1", 0)
	require.NoError(t, err)
	defer b.Stop()
	require.NoError(t, freshBroker(t.Context(), b.URL()), "no stream yet")

	nc, err := nats.Connect(b.URL())
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	_, err = js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}})
	require.NoError(t, err)
	require.NoError(t, freshBroker(t.Context(), b.URL()), "an empty stream")
	_, err = js.Publish(t.Context(), "orders.placed", []byte("{}"))
	require.NoError(t, err)
	err = freshBroker(t.Context(), b.URL())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "chaos needs a fresh broker: stream ORDERS on "+b.URL()+" holds 1 message(s)")
	assert.Contains(t, err.Error(), "omit --nats-url")
}

// ---- end to end: the real services, built from this workspace ----

var (
	buildOnce sync.Once
	buildErr  error
)

// built builds the four services once for every end-to-end test.
func built(t *testing.T, root string) {
	t.Helper()
	buildOnce.Do(func() {
		var log bytes.Buffer
		_, buildErr = fleet.BuildServices(context.Background(), root, workspace.Names(workspace.Known), os.Environ(), fleet.NewConsole(&log, false))
		if buildErr != nil {
			buildErr = fmt.Errorf("%w\n%s", buildErr, log.String())
		}
	})
	require.NoError(t, buildErr)
}

// testRedis returns the Redis URL tests may use, or "".
func testRedis(t *testing.T) string {
	t.Helper()
	u := os.Getenv("REDIS_URL")
	if u == "" {
		u = "redis://127.0.0.1:6379"
	}
	host := strings.TrimPrefix(u, "redis://")
	host, _, _ = strings.Cut(host, "/")
	c, err := (&net.Dialer{Timeout: 2 * time.Second}).DialContext(t.Context(), "tcp", host)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis at %s: %v", host, err)
		}
		return ""
	}
	_ = c.Close()
	return u
}

// testScale runs each shipped experiment in a tenth of its time.
const testScale = 0.1

// testScales are the exceptions: a restart of a service takes as long at
// any scale, so at a tenth it would be a quarter of the run.
var testScales = map[string]float64{"order-kill": 0.5, "order-kill-saga": 0.5, "inventory-term": 0.5, "postgres-restart": 0.5, "rolling-restart": 0.5}

// restartsPostgres are the experiments that restart the PostgreSQL
// server itself. Every other test using that server (go test runs packages
// in parallel) would fail meanwhile, so they run only when asked:
// SLIPWAY_CHAOS_RESTART_POSTGRES=1 (make verify runs them at full length,
// alone).
var restartsPostgres = map[string]bool{"postgres-restart": true}

// runForTest runs one experiment file against the real services and
// returns its report and Run's error.
func runForTest(t *testing.T, file string, env map[string]map[string]string) (*Report, error) {
	t.Helper()
	scale := testScale
	if s, ok := testScales[strings.TrimSuffix(filepath.Base(file), ".yaml")]; ok {
		scale = s
	}
	root, err := workspace.FindRoot(".")
	require.NoError(t, err)
	built(t, root)
	exp, err := loadExperiment(file)
	require.NoError(t, err)
	o := Options{
		Files: []string{file}, Env: env, Scale: scale, Out: t.TempDir(), JSON: true, NoBuild: true,
		Root: root, Environ: clitest.Environ(), ReadyTimeout: 60 * time.Second, StopTimeout: 15 * time.Second,
	}
	if exp.needs(depPostgres) {
		if o.DatabaseURL = testPostgres(t); o.DatabaseURL == "" {
			t.Skip("needs PostgreSQL")
		}
	}
	if exp.needs(depRedis) {
		if o.RedisURL = testRedis(t); o.RedisURL == "" {
			t.Skip("needs Redis")
		}
	}
	var stdout, stderr clitest.SyncBuffer
	o.Stdout, o.Stderr = &stdout, &stderr
	runErr := Run(t.Context(), o)
	var reports []*Report
	require.NoError(t, json.Unmarshal([]byte(stdout.String()), &reports), "stdout: %s\nstderr: %s", stdout.String(), stderr.String())
	require.Len(t, reports, 1)
	rep := reports[0]
	for _, f := range []string{rep.Files.JSON, rep.Files.Markdown, rep.Files.HTML, rep.Files.ServicesLog} {
		assert.FileExists(t, f)
	}
	if t.Failed() || (runErr != nil && rep.Passed) {
		t.Logf("stderr:\n%s", stderr.String())
	}
	return rep, runErr
}

// TestShippedExperimentsHoldTheirInvariants runs every experiment in
// deploy/chaos end to end, at a tenth of its time: each must hold its
// success rate and every invariant.
func TestShippedExperimentsHoldTheirInvariants(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the four services for every experiment")
	}
	for _, file := range shippedExperiments(t) {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			if restartsPostgres[name] && os.Getenv("SLIPWAY_CHAOS_RESTART_POSTGRES") != "1" {
				t.Skip("restarts the PostgreSQL server under every other test: set SLIPWAY_CHAOS_RESTART_POSTGRES=1")
			}
			rep, err := runForTest(t, file, nil)
			// At a tenth of the schedule the analysis sees a hundred-odd
			// requests. Latency there is the machine's (2 shared cores), not
			// the experiment's, and a 99.5 % gate over 120 requests allows no
			// error at all, while at 40 % injected errors each order keeps a
			// 0.1 % chance to fail all 8 attempts: one error in 120 happens
			// about one run in seven. So the test asserts the invariants and
			// the fault effects exactly, and the success rates statistically:
			// the errors seen must be consistent with the gate's rate
			// (errorsConsistentWith). The full-length runs (make verify, the
			// README's figures) apply the gate as written.
			// The gated services' rates and the share of acknowledged orders
			// placed are statistics over as few requests, likewise.
			for _, f := range rep.Failures {
				if !strings.HasPrefix(f, "analysis: p99") && !strings.HasPrefix(f, "analysis: success rate") &&
					!strings.HasPrefix(f, "analysis: payment success rate") && !strings.HasPrefix(f, "analysis: acknowledged orders PLACED") {
					require.NoError(t, err, "failures: %v", rep.Failures)
				}
			}
			require.NotEmpty(t, rep.Analysis)
			for _, c := range rep.Analysis {
				t.Logf("%s %s: observed %s (%s)", c.Metric, c.Condition, c.Observed, passFail(c.Passed))
			}
			rate := rep.Thresholds.SuccessRate
			assert.True(t, errorsConsistentWith(rep.Load.Errors, rep.Load.Requests, rate),
				"%d errors in %d requests: more than a success rate of %.4g explains", rep.Load.Errors, rep.Load.Requests, rate)
			if w := rep.FaultWindow; w != nil {
				windowRate := rate
				if r := rep.Thresholds.FaultRate; r != nil {
					windowRate = *r
				}
				assert.True(t, errorsConsistentWith(w.Errors, w.Requests, windowRate),
					"fault window: %d errors in %d requests: more than a success rate of %.4g explains", w.Errors, w.Requests, windowRate)
			}
			for _, f := range rep.Services {
				least := rep.Thresholds.Services[f.Service]
				assert.True(t, errorsConsistentWith(int64(f.Errors), int64(f.Requests), least),
					"%s: %.0f errors in %.0f RPCs: more than a success rate of %.4g explains", f.Service, f.Errors, f.Requests, least)
			}
			assert.Positive(t, rep.Load.Requests)
			assert.NotEmpty(t, rep.Timeline, "the faults were switched on")
			// Each fault left evidence that it did something.
			require.Len(t, rep.Effects, len(rep.Faults), "one fault effect per fault")
			for _, e := range rep.Effects {
				t.Logf("fault effect: %s: %s", e.Evidence, e.Observed)
				assert.True(t, e.Seen, "%s: wanted %s, observed %s", e.Fault, e.Evidence, e.Observed)
			}
			if name == "redis-partition" {
				assert.Contains(t, rep.Effects[0].Observed, "slipway_redis_up went to 0: true", "user's cache lost Redis")
				assert.NotContains(t, rep.Effects[0].Observed, " 0 cache hit(s) before", "user's cache used Redis before the fault")
			}
			require.GreaterOrEqual(t, len(rep.Invariants), 6)
			names := make([]string, len(rep.Invariants))
			for i, inv := range rep.Invariants {
				names[i] = inv.Name
			}
			assert.Subset(t, names, []string{invAcknowledged, invConservation})
			for _, inv := range rep.Invariants {
				assert.True(t, inv.Passed, "%s: %v", inv.Name, inv.Examples)
				if inv.Name != invGivenBack { // most runs fail or cancel no order
					assert.Positive(t, inv.Checked, "%s checked something", inv.Name)
				}
			}
		})
	}
}

// TestWeakenedInventoryErrorsFailsTheGate: order rides out 40% UNAVAILABLE
// from inventory with three layers: its peer client's retries, the saga's
// own retries inside PAYMENT_DEADLINE, and the recovery worker. With all
// three off (one attempt per peer call; the saga's first retry waits past
// the deadline, which has passed when recovery takes the order up) the orders whose
// Reserve failed in the fault window end FAILED, and the gate must fail,
// while the invariants still hold (a failed order leaves nothing behind:
// its stock released, nothing charged).
func TestWeakenedInventoryErrorsFailsTheGate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the services")
	}
	root, err := workspace.FindRoot(".")
	require.NoError(t, err)
	file := filepath.Join(root, "deploy", "chaos", "inventory-errors.yaml")
	weakened := map[string]string{
		"PEER_RETRY_ATTEMPTS":   "1",
		"PAYMENT_RETRY_INITIAL": "10s",
		"PAYMENT_RETRY_MAX":     "10s",
		// and the recovery worker, which takes an order up after its grace
		// (5 s), finds it past its deadline
		"PAYMENT_DEADLINE":    "3s",
		"PAYMENT_SYNC_BUDGET": "3s",
	}
	rep, runErr := runForTest(t, file, map[string]map[string]string{"order": weakened})
	require.Error(t, runErr)
	assert.Contains(t, runErr.Error(), "1 of 1 experiment(s) failed: inventory-errors")
	assert.False(t, rep.Passed)
	require.NotEmpty(t, rep.Analysis)
	// Which gate sees the failed orders depends on when they fail: within
	// the request, CreateOrder answers the error (success rate); after it,
	// the order was acknowledged PENDING and ends FAILED (placed share).
	failed := map[string]string{}
	for _, c := range rep.Analysis {
		if !c.Passed {
			failed[c.Metric] = c.Observed
		}
	}
	_, rate := failed["success rate"]
	_, placed := failed["acknowledged orders PLACED"]
	assert.True(t, rate || placed, "the success rate or the placed share must fail the gate: %+v", rep.Analysis)
	for _, inv := range rep.Invariants {
		assert.True(t, inv.Passed, "%s: %v", inv.Name, inv.Examples)
	}
	assert.True(t, slices.ContainsFunc(rep.Failures, func(f string) bool {
		return strings.Contains(f, "acknowledged orders PLACED") || strings.Contains(f, "analysis: success rate >= 99.50%")
	}), "%q", rep.Failures)
}

func TestPutAdminFaults(t *testing.T) {
	type call struct {
		method, auth, body string
	}
	var calls []call
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		calls = append(calls, call{r.Method, r.Header.Get("Authorization"), string(b)})
		assert.Equal(t, "/admin/faults", r.URL.Path)
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"detail":"nope"}`))
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	active := []grpcFault{
		{Service: "inventory", Method: "/slipway.inventory.v1.InventoryService/", Code: "UNAVAILABLE", Rate: 0.4},
		{Service: "inventory", Method: "/slipway.inventory.v1.InventoryService/Reserve", Delay: duration(150 * time.Millisecond)},
	}

	require.NoError(t, putAdminFaults(t.Context(), addr, "tok", active))
	require.NoError(t, putAdminFaults(t.Context(), addr, "tok", nil))
	require.Len(t, calls, 2)
	assert.Equal(t, http.MethodPut, calls[0].method)
	assert.Equal(t, "Bearer tok", calls[0].auth)
	assert.JSONEq(t, `{"rules":[
		{"method":"/slipway.inventory.v1.InventoryService/","code":"UNAVAILABLE","rate":0.4},
		{"method":"/slipway.inventory.v1.InventoryService/Reserve","delay":"150ms"}]}`, calls[0].body)
	assert.Equal(t, http.MethodDelete, calls[1].method, "no rule left: the rules are cleared")
	assert.Empty(t, calls[1].body)

	for code, want := range map[int]string{
		http.StatusConflict:   "FAULTS_ENABLED=true is needed",
		http.StatusNotFound:   "has no fault admin endpoint",
		http.StatusForbidden:  "403 Forbidden",
		http.StatusBadRequest: `400 Bad Request: {"detail":"nope"}`,
	} {
		status = code
		err := putAdminFaults(t.Context(), addr, "tok", active)
		require.Error(t, err, code)
		assert.Contains(t, err.Error(), want)
	}
}

func TestFleetProxiesOnlyLocalDependencies(t *testing.T) {
	f := &proxiedFleet{proxies: map[string]*faultproxy.Proxy{}}
	_, err := f.proxy(depRedis, "redis://10.1.2.3:6379")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "chaos only disturbs dependencies on this machine")

	via, err := f.proxy(depPostgres, "postgres://postgres@127.0.0.1/x?sslmode=disable")
	require.NoError(t, err)
	defer f.proxies[depPostgres].Close()
	assert.Equal(t, "127.0.0.1:5432", f.proxies[depPostgres].Upstream(), "the scheme's default port")
	assert.Equal(t, "postgres://postgres@"+f.proxies[depPostgres].Addr()+"/x?sslmode=disable", via)
}

// A fault that left no trace fails the experiment: latency that held no
// reply back is no evidence, however the p50s moved.
func TestFaultEffects(t *testing.T) {
	f := fault{At: duration(10 * time.Second), For: duration(10 * time.Second),
		Network: &networkFault{Dependency: depPostgres, Latency: duration(5 * time.Millisecond)}}
	samples := func(during time.Duration) []sample {
		var s []sample
		for i := range 30 {
			at := time.Duration(i) * time.Second
			lat := 10 * time.Millisecond
			if at >= 10*time.Second && at < 20*time.Second {
				lat = during
			}
			s = append(s, sample{at: at, latency: lat, code: loadgen.CodeOK})
		}
		return s
	}
	mark := latencyMark{Fault: f, Proxied: "the proxy had accepted 3 connection(s)", DelayedBefore: 4}
	eff := latencyEffect(mark, samples(80*time.Millisecond), 24)
	assert.True(t, eff.Seen, eff.Observed)
	assert.Contains(t, eff.Observed, "20 repl(ies) held back; CreateOrder p50 10.0ms before, 80.1ms during (10 and 10 requests)")
	eff = latencyEffect(mark, samples(5*time.Millisecond), 9)
	assert.True(t, eff.Seen, "held back, though the machine's noise hid it in the p50s: %s", eff.Observed)
	eff = latencyEffect(mark, samples(80*time.Millisecond), 4)
	assert.False(t, eff.Seen, "nothing held back while the fault was on: %s", eff.Observed)

	r := &Report{Experiment: "x", Effects: []effect{eff}}
	r.verdict()
	assert.False(t, r.Passed)
	require.Len(t, r.Failures, 1)
	assert.Contains(t, r.Failures[0], "fault effect: postgres network: +5ms latency: no evidence that it did anything")
	assert.Contains(t, markdown(r), "| postgres network: +5ms latency | the proxy held replies back by the added latency while the services' requests went through it |")
}

// An experiment that cannot run (here: no PostgreSQL where --database-url
// points) fails on its own; the next one still runs, and --json prints a
// report for each.
func TestRunsEveryExperimentWhenOneCannotRun(t *testing.T) {
	root, err := workspace.FindRoot(".")
	require.NoError(t, err)
	dir := t.TempDir()
	var files []string
	for _, name := range []string{"first", "second"} {
		f := filepath.Join(dir, name+".yaml")
		require.NoError(t, os.WriteFile(f, []byte(minimalExperiment), 0o600))
		files = append(files, f)
	}
	var stdout, stderr clitest.SyncBuffer
	err = Run(t.Context(), Options{
		Files: files, Scale: 0.1, Out: dir, JSON: true, NoBuild: true, Root: root, Environ: clitest.Environ(),
		DatabaseURL: "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2",
		Stdout:      &stdout, Stderr: &stderr,
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "2 of 2 experiment(s) failed: first (could not run: ")
	var reports []*Report
	require.NoError(t, json.Unmarshal([]byte(stdout.String()), &reports), stdout.String())
	require.Len(t, reports, 2)
	for i, name := range []string{"first", "second"} {
		assert.Equal(t, name, reports[i].Experiment)
		assert.False(t, reports[i].Passed)
		require.Len(t, reports[i].Failures, 1)
		assert.Contains(t, reports[i].Failures[0], "could not run: ")
	}
	assert.Contains(t, stderr.String(), "experiment first could not run")
}

// errorsConsistentWith reports whether errs errors in n requests are
// consistent with a true success rate of rate: whether, were each request to
// fail with probability 1-rate, at least errs errors would happen at least
// once in a hundred runs (Poisson approximation of the binomial).
func errorsConsistentWith(errs, n int64, rate float64) bool {
	lambda := float64(n) * (1 - rate)
	below, term := 0.0, math.Exp(-lambda) // P(X < errs), P(X = k)
	for k := range errs {
		below += term
		term *= lambda / float64(k+1)
	}
	return 1-below >= 0.01
}

func TestErrorsConsistentWith(t *testing.T) {
	tests := []struct {
		errs, n int64
		rate    float64
		want    bool
	}{
		{0, 120, 0.995, true},
		{1, 120, 0.995, true},  // expected 0.6: one error is common
		{3, 120, 0.995, true},  // 2.3 % of runs see 3 or more
		{4, 120, 0.995, false}, // 0.3 %: the rate is worse than the gate's
		{49, 120, 0.995, false},
		{5, 1200, 0.995, true},
		{16, 1200, 0.995, false},
		{60, 450, 0.85, true},
		{100, 450, 0.85, false},
		{0, 0, 0.995, true},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, errorsConsistentWith(tt.errs, tt.n, tt.rate), "%d errors in %d at %v", tt.errs, tt.n, tt.rate)
	}
}

// runCLI runs the verb as slipway's main does: args[0] names it, the rest
// are its arguments, and its error becomes the exit code.
func runCLI(ctx context.Context, args []string, env *cli.Env) int {
	return cli.ExitCode(env.Stderr, args[0], Main(ctx, args[1:], env))
}
