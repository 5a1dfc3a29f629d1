// Package migrate is `slipway migrate status|up`: the database migrations of
// every service in the workspace, through each service binary's own
// "migrate" command, so the CLI and a production Job run the same code.
package migrate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/slipway-dev/slipway/platform/server"
	"github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/fleet"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// Options are the inputs of Run.
type Options struct {
	Verb           string   // status or up
	Root           string   // workspace root; "" walks up to go.work
	Services       []string // empty is every service that exists
	Postgres       string   // PostgreSQL server URL: <prefix><service> databases there, as `slipway dev --postgres`
	PostgresPrefix string
	NoBuild        bool // use the binaries already in .slipway/bin
	JSON           bool
	Stdout         io.Writer
	Stderr         io.Writer // progress
	Environ        []string
}

// Main parses the command line of `slipway migrate` and runs it.
func Main(ctx context.Context, args []string, env *cli.Env) error {
	fs := cli.NewFlagSet(env.Stderr, "migrate", "status|up [--services list] [--postgres URL] [--no-build] [--json]",
		"Lists (status) or applies (up) the database migrations of every service, each through its\n"+
			"own binary's \"migrate status|up\" command, the one a production Job runs. The databases\n"+
			"are the ones `slipway dev` uses: the SQLite files under .slipway/data, or with --postgres\n"+
			"the <prefix><service> databases on that server, which up creates when missing.\n"+
			"SLIPWAY_<SERVICE>_DATABASE_URL in the environment (SLIPWAY_ORDER_DATABASE_URL=\n"+
			"postgres://...) points one service elsewhere.\n\n"+
			"Exit status: 0 when every service answered, 1 when one failed, 2 for a usage error.\n"+
			"Pending migrations are not a failure of status; see docs/migrations.md.")
	opts := Options{Stdout: env.Stdout, Stderr: env.Stderr, Environ: env.Environ}
	var services string
	fs.StringVar(&services, "services", "", "comma-separated `list` of services (default: every one that exists)")
	fs.StringVar(&opts.Postgres, "postgres", "", "the services' databases are on this PostgreSQL server `URL`, one each")
	fs.StringVar(&opts.PostgresPrefix, "postgres-prefix", fleet.DefaultDatabasePrefix, "database name `prefix` under --postgres: <prefix><service>")
	fs.BoolVar(&opts.NoBuild, "no-build", false, "use the binaries already in .slipway/bin instead of building them")
	fs.BoolVar(&opts.JSON, "json", false, "print a JSON array with one report per service")
	fs.StringVar(&opts.Root, "root", "", "workspace `dir` (default: the nearest parent holding go.work)")
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		// Flags alone (--help) or nothing: the usage, or a usage error.
		if err := cli.ParseFlags(fs, args); err != nil {
			return err
		}
		fs.Usage()
		return cli.UsageErrorf("want status or up")
	}
	opts.Verb = args[0]
	if opts.Verb != "status" && opts.Verb != "up" {
		return cli.UsageErrorf("want status or up, got %q", opts.Verb)
	}
	if err := cli.ParseFlags(fs, args[1:]); err != nil {
		return err
	}
	opts.Services = cli.List(services)
	// dev's rules for --services, --postgres and --postgres-prefix, with its
	// errors, which never print a password.
	check := fleet.Options{Services: opts.Services, Postgres: opts.Postgres, PostgresPrefix: opts.PostgresPrefix}
	if err := check.WithDefaults().Validate(); err != nil {
		return cli.UsageError{Err: err}
	}
	return Run(ctx, opts)
}

// Run builds the service binaries (unless NoBuild), runs
// "<service> migrate <verb> --json" for each with the environment
// `slipway dev` gives it, and prints one table for them all, or their
// reports as JSON. Every service is asked even when one fails; the error
// names the ones that failed.
func Run(ctx context.Context, opts Options) error {
	root, err := workspace.Resolve(opts.Root, "")
	if err != nil {
		return err
	}
	defs, err := workspace.Select(root, opts.Services)
	if err != nil {
		return cli.UsageError{Err: err}
	}
	plan, err := fleet.Plan(root, defs, fleet.Options{
		Root: root, Postgres: opts.Postgres, PostgresPrefix: opts.PostgresPrefix, Environ: opts.Environ,
	}.WithDefaults())
	if err != nil {
		return err
	}
	// The SQLite databases `slipway dev` uses live here; a fresh clone has
	// no such directory yet.
	if err := os.MkdirAll(filepath.Join(root, ".slipway", "data"), 0o700); err != nil {
		return err
	}
	console := fleet.NewConsole(opts.Stderr, false, workspace.Names(defs)...)
	if opts.Postgres != "" && opts.Verb == "up" {
		// As dev does: a fresh server gets the databases, up fills them.
		if err := fleet.EnsureDatabases(ctx, opts.Postgres, opts.PostgresPrefix, workspace.Names(defs), console); err != nil {
			return err
		}
	}
	if !opts.NoBuild {
		fmt.Fprintf(opts.Stderr, "migrate: building %s\n", strings.Join(workspace.Names(defs), ", "))
		if _, err := fleet.BuildServices(ctx, root, workspace.Names(defs), opts.Environ, console); err != nil {
			return err
		}
	}
	reports := []server.MigrateReport{}
	var failed []string
	for _, s := range plan {
		start := time.Now()
		r, err := ask(ctx, s, opts.Verb)
		if err != nil {
			fmt.Fprintf(opts.Stderr, "migrate: %s: %v\n", s.Name, err)
			failed = append(failed, s.Name)
			continue
		}
		fmt.Fprintf(opts.Stderr, "migrate: %s %s on %s in %s\n", s.Name, opts.Verb, r.Dialect, time.Since(start).Round(time.Millisecond))
		reports = append(reports, r)
	}
	if len(reports) == 0 && !opts.JSON {
		return fmt.Errorf("migrate %s failed for every service: %s", opts.Verb, strings.Join(failed, ", "))
	}
	if opts.JSON {
		enc := json.NewEncoder(opts.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(reports); err != nil {
			return err
		}
	} else if err := Write(opts.Stdout, opts.Verb, reports); err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("migrate %s failed for %s", opts.Verb, strings.Join(failed, ", "))
	}
	return nil
}

// ask runs one service binary's migrate command and decodes its report.
func ask(ctx context.Context, s fleet.Service, verb string) (server.MigrateReport, error) {
	if _, err := os.Stat(s.Binary); err != nil {
		return server.MigrateReport{}, fmt.Errorf("no binary at %s (run without --no-build to build it): %w", s.Binary, err)
	}
	cmd := exec.CommandContext(ctx, s.Binary, "migrate", verb, "--json")
	cmd.Env = s.Env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	var r server.MigrateReport
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String() + stdout.String())
		if msg == "" {
			return r, err
		}
		// The binary names itself ("order: migrate: ..."); so does the caller.
		return r, errors.New(strings.TrimPrefix(msg, s.Name+": "))
	}
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		return r, fmt.Errorf("read %s's report: %w", s.Binary, err)
	}
	return r, nil
}

// Write prints the reports as one table: what up applied first, then
// every migration of every service with its state.
func Write(w io.Writer, verb string, reports []server.MigrateReport) error {
	migrations, pending := 0, 0
	for _, r := range reports {
		if verb == "up" {
			for _, m := range r.Applied {
				fmt.Fprintf(w, "%s: applied %04d_%s\n", r.Service, m.Version, m.Name)
			}
		}
		migrations += len(r.Migrations)
		pending += r.Pending
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tDIALECT\tVERSION\tNAME\tSTATE\tAPPLIED AT")
	for _, r := range reports {
		for _, m := range r.Migrations {
			at := "-"
			if !m.AppliedAt.IsZero() {
				at = m.AppliedAt.Format(time.RFC3339)
			}
			state := string(m.State)
			if m.State == store.MigrationPending {
				state = strings.ToUpper(state)
			}
			fmt.Fprintf(tw, "%s\t%s\t%04d\t%s\t%s\t%s\n", r.Service, r.Dialect, m.Version, m.Name, state, at)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	noun := "services"
	if len(reports) == 1 {
		noun = "service"
	}
	_, err := fmt.Fprintf(w, "\n%d %s, %d migrations, %d pending\n", len(reports), noun, migrations, pending)
	return err
}
