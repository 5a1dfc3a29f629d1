package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/envvar"
	"github.com/slipway-dev/slipway/tools/slipway/internal/fleet"
	"github.com/slipway-dev/slipway/tools/slipway/internal/report"
	"github.com/slipway-dev/slipway/tools/slipway/internal/scratchdb"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// startupOptions are the inputs of runStartup.
type startupOptions struct {
	Options
	Services   []string // empty: every one that exists
	Postgres   string   // server URL; "" tries POSTGRES_TEST_URL, then the local default
	NoPostgres bool
	Timeout    time.Duration // per start
	// Transports to measure side by side, interleaved run by run; empty
	// is plaintext only.
	Transports []string
	// Idle is how long the last start of each service stays up, SERVING and
	// unused, before its memory is read; 0 reads none.
	Idle time.Duration
}

func startupMain(ctx context.Context, args []string, env *cli.Env) error {
	fs := cli.NewFlagSet(env.Stderr, "bench startup", "[flags]",
		"Builds every service into .slipway/bench/bin, then starts each one --runs times and measures\n"+
			"from process start to gRPC health SERVING (the service's \"serving\" log line, checked with\n"+
			"a health call). It runs on SQLite in a temporary directory and, when PostgreSQL answers\n"+
			"(--postgres, else POSTGRES_TEST_URL, else "+scratchdb.DefaultServerURL+"),\n"+
			"on a temporary database per service, dropped afterwards. The services get an embedded\n"+
			"NATS JetStream and dead peer and JWKS addresses (they dial and fetch lazily).\n"+
			"The first run of each service migrates an empty database; every run counts. The user service\n"+
			"gets dev's admin and service account, so its start ensures both as under dev.\n"+
			"The last start of each service then idles for --idle and its memory is read (Linux):\n"+
			"IDLE RSS is VmRSS, which counts the mapped binary, ANON the process's private memory.\n\n"+
			"--transport plaintext,tls (or --tls) measures both transports in one run, interleaved\n"+
			"start by start, so a busy machine slows both alike. Under tls each service serves with its\n"+
			"own certificate from a CA made in the temporary directory (mTLS on the gRPC port, an https\n"+
			"JWKS address), the health check presents the bench's client certificate, and each\n"+
			"transport has its own database, so its first run migrates one too.")
	opts := startupOptions{Options: Options{Stdout: env.Stdout, Stderr: env.Stderr, Environ: env.Environ,
		Command: commandLine(append([]string{"bench", "startup"}, args...)...)}}
	var services, transports string
	var tlsToo bool
	fs.IntVar(&opts.Runs, "runs", 10, "starts per service and database")
	fs.StringVar(&services, "services", "", "comma-separated `list` of services (default: every one that exists)")
	fs.StringVar(&opts.Postgres, "postgres", "", "PostgreSQL server `URL` to create the temporary databases on; it must answer")
	fs.BoolVar(&opts.NoPostgres, "no-postgres", false, "measure on SQLite only")
	fs.DurationVar(&opts.Timeout, "timeout", 30*time.Second, "how long one start may take before it counts as failed")
	fs.DurationVar(&opts.Idle, "idle", 3*time.Second, "how long the last start of each service idles before its memory is read; 0 skips")
	fs.StringVar(&transports, "transport", transportPlaintext, "comma-separated `list` of transports to measure side by side: plaintext, tls")
	fs.BoolVar(&tlsToo, "tls", false, "short for --transport plaintext,tls")
	fs.BoolVar(&opts.JSON, "json", false, "print the JSON document instead of the table")
	fs.StringVar(&opts.Root, "root", "", "workspace `dir` (default: the nearest parent holding go.work)")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if tlsToo {
		transportSet := false
		fs.Visit(func(f *flag.Flag) { transportSet = transportSet || f.Name == "transport" })
		if transportSet {
			return cli.UsageErrorf("--tls is short for --transport plaintext,tls: give one of them")
		}
		transports = transportPlaintext + "," + transportTLS
	}
	var err error
	if opts.Transports, err = parseTransports(transports); err != nil {
		return err
	}
	opts.Services = cli.List(services)
	for _, s := range opts.Services {
		if !slices.ContainsFunc(workspace.Known, func(d workspace.Service) bool { return d.Name == s }) {
			return cli.UsageErrorf("unknown service %q in --services (known: %s)", s, strings.Join(workspace.Names(workspace.Known), ", "))
		}
	}
	if opts.Runs < 1 || opts.Timeout <= 0 {
		return cli.UsageErrorf("--runs and --timeout must be positive")
	}
	if opts.Idle < 0 {
		return cli.UsageErrorf("--idle must not be negative")
	}
	if opts.Postgres != "" && opts.NoPostgres {
		return cli.UsageErrorf("--postgres and --no-postgres exclude each other")
	}
	return runStartup(ctx, opts)
}

// runStartup measures start to SERVING of every service.
func runStartup(ctx context.Context, opts startupOptions) error {
	root, err := findRoot(opts.Root)
	if err != nil {
		return err
	}
	defs, err := workspace.Select(root, opts.Services)
	if err != nil {
		return err
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("find the go command: %w", err)
	}
	if len(opts.Transports) == 0 {
		opts.Transports = []string{transportPlaintext}
	}
	rep := startupReport{Benchmark: "startup", Started: time.Now().UTC(), Command: opts.Command,
		Runs: opts.Runs, Transports: opts.Transports, TargetMS: msFloat(startupTarget), SeedMS: msFloat(startupSeed)}
	rep.Machine = newMachine(ctx, goBin, root, opts.Environ)

	binDir, err := buildServices(ctx, opts, goBin, root, defs)
	if err != nil {
		return err
	}

	tmp, err := os.MkdirTemp("", "slipway-bench-startup-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	shared, stopBroker, err := sharedTarget(opts, tmp, workspace.Names(defs))
	if err != nil {
		return err
	}
	defer stopBroker()

	databases, pgURL, err := startupDatabases(ctx, opts, &rep)
	if err != nil {
		return err
	}

	logPath := filepath.Join(root, ".slipway", "bench", "startup-"+stamp(rep.Started)+".log")
	logFile, err := os.Create(logPath) //nolint:gosec // our own state directory
	if err != nil {
		return err
	}
	defer logFile.Close()
	for _, db := range databases {
		for _, d := range defs {
			t := shared
			t.svc, t.db, t.pgURL, t.bin = d.Name, db, pgURL, filepath.Join(binDir, d.Name)
			res, err := startService(ctx, opts, t, logFile)
			if err != nil {
				return fmt.Errorf("%s on %s: %w (its output is in %s)", d.Name, db, err, relPath(root, logPath))
			}
			rep.Results = append(rep.Results, res...)
		}
	}

	path, err := writeJSON(root, rep.Benchmark, rep.Started, rep)
	if err != nil {
		return err
	}
	if opts.JSON {
		return printJSON(opts.Stdout, rep)
	}
	fmt.Fprint(opts.Stdout, startupTable(rep))
	fmt.Fprintf(opts.Stdout, "wrote %s (service output in %s)\n", relPath(root, path), relPath(root, logPath))
	return nil
}

// buildServices builds the services into .slipway/bench/bin, the way a
// release does (no dev flags), and returns that directory.
func buildServices(ctx context.Context, opts startupOptions, goBin, root string, defs []workspace.Service) (string, error) {
	binDir := filepath.Join(root, ".slipway", "bench", "bin")
	if err := os.MkdirAll(binDir, 0o750); err != nil {
		return "", err
	}
	for _, d := range defs {
		opts.progress("building %s into .slipway/bench/bin", d.Name)
		b := fleet.BuildBinary(ctx, goBin, root, d.Name, filepath.Join(binDir, d.Name), opts.Environ)
		if b.Err != nil {
			return "", fmt.Errorf("build %s: %w\n%s", d.Name, b.Err, b.Output)
		}
	}
	return binDir, nil
}

// startupDatabases are the databases to start on: SQLite, and PostgreSQL
// when it answers (else the report says why it was skipped).
func startupDatabases(ctx context.Context, opts startupOptions, rep *startupReport) (databases []string, pgURL string, err error) {
	databases = []string{"sqlite"}
	pgURL, skipped, err := postgresServer(ctx, opts)
	if err != nil {
		return nil, "", err
	}
	if pgURL != "" {
		return append(databases, "postgres"), pgURL, nil
	}
	rep.Skipped = append(rep.Skipped, "postgres: "+skipped)
	opts.progress("PostgreSQL skipped: %s", skipped)
	return databases, "", nil
}

// startTarget is one service on one database, and what its starts share.
type startTarget struct {
	svc, db, pgURL, bin, tmp, natsURL, secret string
	certs                                     *tlsAuthority // nil when tls is not measured
}

// sharedTarget is what every start shares, in the run's temporary
// directory tmp: the state directories, a broker, the dev secret, and the
// certificates when TLS is measured. The returned function stops the broker.
func sharedTarget(opts startupOptions, tmp string, services []string) (startTarget, func(), error) {
	for _, dir := range []string{"data", "keys"} {
		if err := os.MkdirAll(filepath.Join(tmp, dir), 0o700); err != nil {
			return startTarget{}, nil, err
		}
	}
	secret, err := fleet.Secret() // 24 characters
	if err != nil {
		return startTarget{}, nil, err
	}
	var certs *tlsAuthority
	if slices.Contains(opts.Transports, transportTLS) {
		if certs, err = newTLSAuthority(tlsDir(tmp), services); err != nil {
			return startTarget{}, nil, err
		}
	}
	broker, err := fleet.StartBroker(tmp, "127.0.0.1", 0)
	if err != nil {
		return startTarget{}, nil, err
	}
	return startTarget{tmp: tmp, natsURL: broker.URL(), secret: secret, certs: certs}, broker.Stop, nil
}

// startService starts one service opts.Runs times on one database per
// transport, the transports taking turns run by run.
func startService(ctx context.Context, opts startupOptions, t startTarget, log io.Writer) ([]startupResult, error) {
	environ := map[string][]string{}
	for _, tr := range opts.Transports {
		dbURL := "sqlite://" + filepath.ToSlash(filepath.Join(t.tmp, "data", t.svc+"-"+tr+".db"))
		if t.db == "postgres" {
			u, drop, err := scratchdb.Create(ctx, t.pgURL, "slipway_bench_"+t.svc)
			if err != nil {
				return nil, err
			}
			defer drop()
			dbURL = u
		}
		environ[tr] = startEnviron(opts, t, tr, dbURL)
	}

	took := map[string][]time.Duration{}
	self := map[string][]time.Duration{}
	idle := map[string]procMemory{}
	for i := range opts.Runs {
		for _, tr := range transportOrder(opts.Transports, i) {
			fmt.Fprintf(log, "=== %s on %s over %s, run %d\n", t.svc, t.db, tr, i+1)
			var client *tls.Config
			if tr == transportTLS {
				client = t.certs.client
			}
			var wait time.Duration
			if i == opts.Runs-1 {
				wait = opts.Idle
			}
			s, err := startOnce(ctx, t.bin, environ[tr], client, log, opts.Timeout, wait)
			if err != nil {
				return nil, fmt.Errorf("%s run %d: %w", tr, i+1, err)
			}
			took[tr] = append(took[tr], s.took)
			self[tr] = append(self[tr], s.self)
			idle[tr] = s.idle
		}
	}

	return startupResults(opts, t, took, self, idle), nil
}

// startupResults summarizes the starts of t's service per transport.
func startupResults(opts startupOptions, t startTarget, took, self map[string][]time.Duration, idle map[string]procMemory) []startupResult {
	var results []startupResult
	for _, tr := range opts.Transports {
		res := startupResult{Service: t.svc, Database: t.db, Transport: tr}
		for _, d := range took[tr] {
			res.Samples = append(res.Samples, msFloat(d))
		}
		st := summarize(took[tr])
		res.MedianMS, res.MinMS, res.P90MS, res.MaxMS = msFloat(st.median), msFloat(st.min), msFloat(st.p90), msFloat(st.max)
		res.FirstMS = res.Samples[0]
		res.SelfMedianMS = msFloat(summarize(self[tr]).median)
		if plain := summarize(took[transportPlaintext]); tr != transportPlaintext && plain.median > 0 {
			res.VsPlaintext = float64(st.median) / float64(plain.median)
		}
		if m := idle[tr]; m.RSS > 0 {
			res.IdleRSSMB, res.IdleAnonMB, res.IdleSeconds = mbFloat(m.RSS), mbFloat(m.Anon), opts.Idle.Seconds()
		}
		opts.progress("%-12s on %-8s over %-9s median %s (min %s, max %s, first %s) over %d runs",
			t.svc, t.db, tr, millis(st.median), millis(st.min), millis(st.max), millis(took[tr][0]), len(took[tr]))
		results = append(results, res)
	}
	return results
}

// startEnviron is the environment of t's service over transport tr.
func startEnviron(opts startupOptions, t startTarget, tr, dbURL string) []string {
	env := []envvar.Var{
		{Key: "GRPC_ADDR", Value: "127.0.0.1:0"},
		{Key: "HTTP_ADDR", Value: "127.0.0.1:0"},
		{Key: "DATABASE_URL", Value: dbURL},
		// As under dev, the user service ensures an admin and the order
		// service's account at every start, a password hash each.
		{Key: "ADMIN_EMAIL", Value: workspace.DevAdminEmail},
		{Key: "ADMIN_PASSWORD", Value: workspace.DevAdminPassword},
		{Key: "SERVICE_ACCOUNTS", Value: "order:" + t.secret},
		{Key: "DRAIN_DELAY", Value: "0s"},
		{Key: "LOG_LEVEL", Value: "info"},
		{Key: "NATS_URL", Value: t.natsURL},
		// Nothing answers on port 9: the services fetch keys and dial
		// peers lazily, so the start does not wait for them.
		{Key: "AUTH_JWKS_URL", Value: "http://127.0.0.1:9/.well-known/jwks.json"},
		{Key: "AUTH_SIGNING_KEY_FILE", Value: filepath.Join(t.tmp, "keys", "user-ed25519.pem")},
		{Key: "SERVICE_ACCOUNT_PASSWORD", Value: t.secret},
		{Key: "USER_ADDR", Value: "127.0.0.1:9"},
		{Key: "INVENTORY_ADDR", Value: "127.0.0.1:9"},
		{Key: "PAYMENT_ADDR", Value: "127.0.0.1:9"},
	}
	if tr == transportTLS {
		env = append(env, t.certs.env(t.svc)...)
	}
	environ := minimalEnviron(opts.Environ)
	for _, e := range env {
		environ = envvar.Set(environ, e.Key, e.Value)
	}
	// Under mTLS, as under dev --tls, no service holds a password account.
	return fleet.OwnSecretsOnly(environ, t.svc, tr == transportTLS)
}

// minimalEnviron keeps what a process needs to run (PATH, HOME, TMPDIR) and
// nothing that would change a service's configuration.
func minimalEnviron(parent []string) []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "TZ", "LANG"} {
		if v, ok := envvar.Lookup(parent, k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// postgresServer picks the PostgreSQL server to measure on: --postgres,
// which must answer; else POSTGRES_TEST_URL or the local default, skipped
// (with the reason) when it does not answer.
func postgresServer(ctx context.Context, opts startupOptions) (serverURL, skipped string, err error) {
	if opts.NoPostgres {
		return "", "--no-postgres", nil
	}
	serverURL, explicit := opts.Postgres, opts.Postgres != ""
	if serverURL == "" {
		serverURL = opts.getenv("POSTGRES_TEST_URL")
	}
	if serverURL == "" {
		serverURL = scratchdb.DefaultServerURL
	}
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, serverURL)
	if err != nil {
		why := fmt.Sprintf("PostgreSQL at %s does not answer: %v", report.RedactURL(serverURL), err)
		if explicit {
			return "", "", errors.New(why)
		}
		return "", why + " (set --postgres or POSTGRES_TEST_URL)", nil
	}
	_ = conn.Close(ctx)
	return serverURL, "", nil
}
