package chaos

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/slipway-dev/slipway/tools/slipway/internal/report"
)

// postgresRestart restarts the PostgreSQL server the services' databases
// live on, as a minor-version upgrade, a configuration change or a failover
// does: every session is terminated (SQLSTATE 57P01), new connections are
// refused while it is down, and the server comes back empty of sessions.
//
// With the fault's For at 0 the server is restarted in one step
// (pg_ctlcluster restart); with a For it is stopped, left down that long,
// and started again.
type postgresRestart struct {
	// Mode is pg_ctl's shutdown mode: fast (sessions are terminated and
	// their transactions rolled back) or immediate (no clean shutdown:
	// crash recovery at the start).
	Mode string `yaml:"mode"`
}

// pgModes are the shutdown modes a restart may use. smart is left out:
// it waits for every session to end, which a pooled service never does.
var pgModes = []string{"fast", "immediate"}

// pgCluster is the local PostgreSQL cluster behind a database URL, as
// pg_ctlcluster names it ("15", "main"), and when its postmaster started.
type pgCluster struct {
	Version, Name string
	Started       time.Time
}

// pgControl runs pg_ctlcluster; a variable so tests can see the
// command without restarting anything.
var pgControl = func(ctx context.Context, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "pg_ctlcluster", args...).CombinedOutput() //nolint:gosec // fixed program, arguments from the server itself and a validated mode
	if err != nil {
		return fmt.Errorf("pg_ctlcluster %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// pgArgs is the pg_ctlcluster command line for action (restart, stop
// or start) of c. --skip-systemctl-redirect acts on the cluster directly,
// with or without systemd.
func pgArgs(c pgCluster, action, mode string) []string {
	args := []string{"--skip-systemctl-redirect", c.Version, c.Name, action}
	if action != "start" {
		args = append(args, "-m", mode)
	}
	return args
}

// pgInspect reads which cluster serves dsn and when it started. The
// cluster name comes from the server's cluster_name setting, which Debian's
// pg_createcluster sets to "<version>/<name>".
func pgInspect(ctx context.Context, dsn string) (pgCluster, error) {
	var c pgCluster
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return c, err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var name string
	if err := db.QueryRowContext(ctx, "SELECT current_setting('cluster_name'), pg_postmaster_start_time()").Scan(&name, &c.Started); err != nil {
		return c, fmt.Errorf("read the PostgreSQL cluster: %w", err)
	}
	version, cluster, ok := strings.Cut(name, "/")
	// Neither part may pass for an option of pg_ctlcluster.
	if !ok || version == "" || cluster == "" || strings.HasPrefix(version, "-") || strings.HasPrefix(cluster, "-") || strings.ContainsAny(name, " \t\n") {
		return c, fmt.Errorf("PostgreSQL's cluster_name is %q, not <version>/<cluster>: restarting it needs a cluster pg_ctlcluster manages on this machine", name)
	}
	c.Version, c.Name = version, cluster
	return c, nil
}

// pgWaitUp waits until dsn answers again, and returns the new
// postmaster start time.
func pgWaitUp(ctx context.Context, dsn string, bound time.Duration) (time.Time, error) {
	deadline := time.Now().Add(bound)
	for {
		c, err := pgInspect(ctx, dsn)
		if err == nil {
			return c.Started, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return time.Time{}, fmt.Errorf("PostgreSQL did not answer within %s: %w", bound, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// restartsPostgres says whether one of the experiment's faults restarts
// the PostgreSQL server.
func (e *experiment) restartsPostgres() bool {
	for _, f := range e.Faults {
		if f.PostgresRestart != nil {
			return true
		}
	}
	return false
}

// pgCheckpoint runs CHECKPOINT on dsn's server, as an operator does before
// a planned restart. Before a restart experiment's load it flushes what
// setting the experiment up wrote (four databases copied from template1
// and migrated: 1,292 files and 1 s of shutdown checkpoint on this
// machine), so the restart's shutdown checkpoint holds the load's writes
// only, and the fault measures the restart rather than the scaffolding.
func pgCheckpoint(ctx context.Context, dsn string) error {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CHECKPOINT"); err != nil {
		return fmt.Errorf("CHECKPOINT before the restart: %w", err)
	}
	return nil
}

// pgRestart is one restart in progress: what it found before, so that
// the end can show that the server did restart.
type pgRestart struct {
	cluster pgCluster
	dsn     string
	began   time.Time
	probe   *outageProbe
}

// pgDSN is a direct (not proxied) URL of a database on the fleet's server.
func (f *proxiedFleet) pgDSN() (string, error) {
	for _, d := range f.databases {
		if d.Dialect == "postgres" {
			return d.DSN, nil
		}
	}
	return "", errors.New("the services do not run on PostgreSQL (set DATABASE_URL or --database-url)")
}

// applyPGRestart restarts the server, or stops it when the fault lasts.
func (r *run) applyPGRestart(ctx context.Context, f fault) error {
	dsn, err := r.fleet.pgDSN()
	if err != nil {
		return err
	}
	c, err := pgInspect(ctx, dsn)
	if err != nil {
		return err
	}
	pr := &pgRestart{cluster: c, dsn: dsn, began: time.Now(), probe: startOutageProbe(ctx, dsn)}
	r.mu.Lock()
	r.pgRestart = pr
	r.mu.Unlock()
	action := "restart"
	if f.For > 0 {
		action = "stop"
	}
	if err := pgControl(ctx, pgArgs(c, action, f.PostgresRestart.Mode)...); err != nil {
		return err
	}
	if f.For > 0 {
		r.event("fault on: PostgreSQL %s/%s stopped (-m %s), started again in %s", c.Version, c.Name, f.PostgresRestart.Mode, f.For)
		return nil
	}
	r.event("fault on: PostgreSQL %s/%s restarted (-m %s) in %s", c.Version, c.Name, f.PostgresRestart.Mode, report.Seconds(time.Since(pr.began)))
	return nil
}

// recordOutage stops pr's probe and adds the outage it saw to the run's,
// on the timeline.
func (r *run) recordOutage(pr *pgRestart) {
	from, to := pr.probe.stop()
	if from.IsZero() {
		r.event("PostgreSQL never refused a probe (every %s): no outage seen", outageProbeEvery)
		return
	}
	r.mu.Lock()
	r.outage += to.Sub(from)
	r.mu.Unlock()
	r.event("PostgreSQL refused connections for %s, from t+%s to t+%s (probed every %s)",
		report.Seconds(to.Sub(from)), report.Seconds(from.Sub(r.start)), report.Seconds(to.Sub(r.start)), outageProbeEvery)
}

// revertPGRestart starts a stopped server, waits until it answers, and
// records the evidence: the postmaster's start time moved.
func (r *run) revertPGRestart(ctx context.Context, f fault) error {
	r.mu.Lock()
	pr := r.pgRestart
	r.mu.Unlock()
	if pr == nil {
		return errors.New("no PostgreSQL restart in progress")
	}
	if f.For > 0 {
		if err := pgControl(ctx, pgArgs(pr.cluster, "start", "")...); err != nil {
			return err
		}
	}
	started, err := pgWaitUp(ctx, pr.dsn, 60*time.Second)
	r.recordOutage(pr)
	eff := effect{
		Fault:    f.Describe(),
		Evidence: "pg_postmaster_start_time() changed: the server really restarted",
	}
	switch {
	case err != nil:
		eff.Observed = err.Error()
	default:
		eff.Observed = fmt.Sprintf("postmaster started at %s before, %s after; answering again %s after the fault began",
			pr.cluster.Started.UTC().Format(time.RFC3339Nano), started.UTC().Format(time.RFC3339Nano), report.Seconds(time.Since(pr.began)))
		eff.Seen = started.After(pr.cluster.Started)
	}
	r.addEffect(eff)
	if err != nil {
		return err
	}
	if f.For > 0 {
		r.event("fault off: PostgreSQL %s/%s started again, answering %s after it was stopped", pr.cluster.Version, pr.cluster.Name, report.Seconds(time.Since(pr.began)))
	}
	return nil
}
