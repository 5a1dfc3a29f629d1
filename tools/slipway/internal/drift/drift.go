// Package drift is the drift verb: it compares the configuration declared in
// git with what the running services report at /debug/config and with
// Kubernetes ConfigMaps and Secrets, and names every key that differs.
package drift

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/slipway-dev/slipway/platform/redact"
	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// Options are the inputs of Run.
type Options struct {
	Root string // workspace root; "" walks up from the working directory to go.work
	// Env is the environment: the declared files are
	// deploy/config/<Env>/<svc>.yaml. "" is local when the services run
	// under this workspace's slipway dev, else dev.
	Env       string
	ConfigDir string            // directory of the declared files; "" is <Root>/deploy/config/<Env>
	Services  []string          // services to check; empty is every service with a declared file
	Targets   map[string]string // HTTP host:port (or URL) of a running service; others use the dev address
	NoRunning bool              // do not ask running services
	K8s       string            // `kubectl get configmap,secret -o json` output: a file, "-" for Stdin, "" for none
	Stdin     io.Reader
	Timeout   time.Duration // for each /debug/config request
	JSON      bool
	Stdout    io.Writer
	Progress  io.Writer // where the metrics export reports; nil: nowhere
	// PushGateway is a Pushgateway URL the result is pushed to as metrics;
	// MetricsFile a file it is written to in the text format.
	PushGateway, MetricsFile string
	// Now is the clock of the last-success metric; nil is time.Now.
	Now func() time.Time
	// AdminToken is the bearer token /debug/config demands (the admin role).
	// When empty, drift logs in as AdminEmail/AdminPassword at the user
	// service (its target, or its dev address).
	AdminToken                string
	AdminEmail, AdminPassword string
	// FingerprintKey is the deployment's CONFIG_FINGERPRINT_KEY: secrets
	// are compared by their HMAC under it. Without it (and without one in
	// the --k8s Secrets) secret keys of running services stay unchecked.
	FingerprintKey string
}

// Statuses of a drift row. Only the ones in problems count as drift.
const (
	statusSame       = "same"       // the source has the declared value
	statusDiffers    = "differs"    // the source has another value
	statusUnknown    = "unknown"    // declared key the service does not have: a declaration error
	statusInvalid    = "invalid"    // declared value that does not parse for its key's type
	statusMissing    = "missing"    // declared key absent from a ConfigMap, or config key the service does not report
	statusExtra      = "extra"      // ConfigMap key that is not declared
	statusFailed     = "error"      // the source could not be read
	statusUndeclared = "undeclared" // running key not declared: a default or the environment (info)
	statusUnchecked  = "unchecked"  // Secret value with nothing to compare it with (info)
	statusUnmapped   = "unmapped"   // Secret key that is no config key of the service (info)
)

var problems = []string{statusDiffers, statusUnknown, statusInvalid, statusMissing, statusExtra, statusFailed}

// Sources of a drift row.
const (
	sourceRunning   = "running"
	sourceConfigMap = "configmap"
	sourceSecret    = "secret"
)

// secretShown stands in for every secret value: neither the value nor its
// hash is printed.
const secretShown = "<secret>"

// Row is one key of one service as one source has it; the rows are the
// table and the --json document.
type Row struct {
	Service  string `json:"service"`
	Source   string `json:"source"`           // running, configmap or secret
	Object   string `json:"object,omitempty"` // name of the ConfigMap or Secret
	Key      string `json:"key"`              // YAML key, dotted when nested
	Env      string `json:"env,omitempty"`    // the Secret's data key (an environment variable)
	Declared any    `json:"declared,omitempty"`
	Found    any    `json:"found,omitempty"`
	Status   string `json:"status"`
	Drift    bool   `json:"drift"`
	Note     string `json:"note,omitempty"`
}

// Service is what drift learnt about one service.
type Service struct {
	Service  string `json:"service"`
	Declared string `json:"declared"` // the declared file, relative to the root
	Origin   string `json:"origin"`   // "git HEAD <commit>" or "working tree"
	Target   string `json:"target,omitempty"`
	Version  string `json:"version,omitempty"`
	Hash     string `json:"hash,omitempty"` // the running config hash
	Error    string `json:"error,omitempty"`
}

// Report is the result of Run; it is also the --json document.
type Report struct {
	Env      string    `json:"env"`
	Drift    bool      `json:"drift"` // a row counts as drift (an unreadable source does too): exit 1
	Services []Service `json:"services"`
	Rows     []Row     `json:"rows"`
	Notes    []string  `json:"notes,omitempty"`
}

var envName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// Main parses the drift verb's flags and runs the comparison.
func Main(ctx context.Context, args []string, env *cli.Env) error {
	fs := cli.NewFlagSet(env.Stderr, "drift",
		"[--env local|dev|prod] [--services user,order] [--targets user=127.0.0.1:8081,...] [--k8s FILE|-] [--pushgateway URL] [--metrics-file FILE] [--json]",
		"Compares the configuration declared in git (deploy/config/<env>/<svc>.yaml as committed at\n"+
			"HEAD; uncommitted edits are drift too) with what each running service reports at\n"+
			"/debug/config, and with Kubernetes ConfigMaps and Secrets given as the output of\n"+
			"`kubectl get configmap,secret -o json` (a file, or - for stdin). It names every key\n"+
			"that differs. Keys a service runs with but that are not declared come from defaults or\n"+
			"the environment and are reported as info only. Secret values are compared by their\n"+
			"HMAC-SHA256 under the deployment's CONFIG_FINGERPRINT_KEY (from the environment,\n"+
			"--fingerprint-key-file, a --k8s Secret, or slipway dev's .slipway/keys/config-fingerprint.key)\n"+
			"and never printed.\n\n"+
			"/debug/config needs an admin: drift sends SLIPWAY_ADMIN_TOKEN, or logs in at the user\n"+
			"service as ADMIN_EMAIL/ADMIN_PASSWORD (slipway dev's admin when unset).\n\n"+
			"A ConfigMap is the declaration of <svc> when its data has the key <svc>.yaml. A Secret's\n"+
			"data keys are environment variables, mapped to config keys through the env tags of the\n"+
			"service's config struct; it belongs to the service of its app.kubernetes.io/name label\n"+
			"or name prefix (<svc>-secrets), and otherwise to every service that reads the variable.\n\n"+
			"Without --env, a slipway dev system (its services carry the workspace's dev fingerprint key)\n"+
			"is compared with deploy/config/local, what the local runner runs, so a fresh `make run`\n"+
			"shows no drift; in that environment loopback ports are the runner's (--grpc-port-base,\n"+
			"--http-port-base, --console-port, the embedded NATS port) and every other value counts.\n"+
			"Anything else is compared with dev.\n\n"+
			"--pushgateway URL and --metrics-file FILE export the result: "+metricDifferingKeys+"\n"+
			"{environment, service} and "+metricLastSuccess+"{environment}, set only\n"+
			"when every source was read.\n\n"+
			"Without --targets each service is asked at its `slipway dev` address (127.0.0.1:8081..8085);\n"+
			"with --targets and no --services only the targeted services are checked.\n"+
			"Exit codes: 0 no drift, 1 drift found or a source could not be read, 2 usage error.")
	opts := Options{
		Stdout: env.Stdout, Stdin: os.Stdin, Progress: env.Stderr,
		AdminToken:     env.Getenv("SLIPWAY_ADMIN_TOKEN"),
		FingerprintKey: env.Getenv("CONFIG_FINGERPRINT_KEY"),
	}
	opts.AdminEmail, opts.AdminPassword = workspace.AdminCredentials(env.Environ)
	var services, targets, keyFile string
	fs.StringVar(&opts.Env, "env", "", "`environment` whose declared files are compared (deploy/config/<env>; default local for a slipway dev system, else dev)")
	fs.StringVar(&services, "services", "", "comma-separated `list` of services (default: every service with a declared file)")
	fs.StringVar(&targets, "targets", "", "comma-separated `svc=host:port` HTTP addresses of the running services")
	fs.BoolVar(&opts.NoRunning, "no-running", false, "do not ask running services (compare with --k8s only)")
	fs.StringVar(&opts.K8s, "k8s", "", "`file` with `kubectl get configmap,secret -o json` output, - for stdin")
	fs.StringVar(&opts.ConfigDir, "config-dir", "", "`dir` of the declared <svc>.yaml files (default deploy/config/<env>)")
	fs.StringVar(&opts.Root, "root", "", "workspace `dir` (default: the nearest parent holding go.work)")
	fs.DurationVar(&opts.Timeout, "timeout", 5*time.Second, "`duration` each running service has to answer")
	fs.BoolVar(&opts.JSON, "json", false, "print the rows as JSON")
	fs.StringVar(&opts.PushGateway, "pushgateway", "", "push the result as metrics to this Pushgateway `URL` ("+metricDifferingKeys+", "+metricLastSuccess+")")
	fs.StringVar(&opts.MetricsFile, "metrics-file", "", "write the same metrics to `file` in the Prometheus text format (node_exporter's textfile collector)")
	fs.StringVar(&keyFile, "fingerprint-key-file", "", "`file` holding the deployment's CONFIG_FINGERPRINT_KEY")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if keyFile != "" {
		key, err := os.ReadFile(keyFile) //nolint:gosec // the operator names the file
		if err != nil {
			return cli.UsageError{Err: fmt.Errorf("--fingerprint-key-file: %w", err)}
		}
		opts.FingerprintKey = strings.TrimSpace(string(key))
	}
	opts.Services = cli.List(services)
	var err error
	if opts.Targets, err = parseTargets(targets); err != nil {
		return cli.UsageError{Err: err}
	}
	return Run(ctx, opts)
}

// parseTargets parses "svc=host:port,svc=host:port".
func parseTargets(s string) (map[string]string, error) {
	targets := map[string]string{}
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		svc, addr, ok := strings.Cut(item, "=")
		svc, addr = strings.TrimSpace(svc), strings.TrimSpace(addr)
		if !ok || svc == "" || addr == "" {
			return nil, fmt.Errorf("--targets %q: want svc=host:port", item)
		}
		if _, dup := targets[svc]; dup {
			return nil, fmt.Errorf("--targets names %s twice", svc)
		}
		targets[svc] = addr
	}
	return targets, nil
}

func (o Options) validate() error {
	if o.Env != "" && !envName.MatchString(o.Env) {
		return fmt.Errorf("--env %q: want a name such as dev or prod", o.Env)
	}
	known := workspace.Names(workspace.Known)
	for _, s := range o.Services {
		if !slices.Contains(known, s) {
			return fmt.Errorf("unknown service %q in --services (known: %s)", s, strings.Join(known, ", "))
		}
	}
	for s, addr := range o.Targets {
		if !slices.Contains(known, s) {
			return fmt.Errorf("unknown service %q in --targets (known: %s)", s, strings.Join(known, ", "))
		}
		if _, err := debugConfigURL(addr); err != nil {
			return fmt.Errorf("--targets %s: %w", s, err)
		}
	}
	if o.NoRunning && len(o.Targets) > 0 {
		return errors.New("--targets and --no-running exclude each other")
	}
	if o.Timeout <= 0 {
		return fmt.Errorf("--timeout must be positive, got %s", o.Timeout)
	}
	if o.PushGateway != "" {
		if u, err := url.Parse(o.PushGateway); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--pushgateway %q: want an http(s) URL", o.PushGateway)
		}
	}
	return nil
}

// errFound is returned when a source differs from the declaration.
var errFound = errors.New("drift found")

// Run compares every selected service's declared config with the
// running services and the Kubernetes objects, prints the rows and returns
// an error naming the drifted keys when there are any.
func Run(ctx context.Context, opts Options) error {
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return cli.UsageError{Err: err}
	}
	root, err := opts.rootDir()
	if err != nil {
		return err
	}
	var objects []kubeObject
	if opts.K8s != "" {
		if objects, err = readKubeObjects(opts.K8s, opts.Stdin); err != nil {
			return err
		}
	}

	d := newDrifter(root, opts)
	var token string
	if !opts.NoRunning {
		if token, err = adminToken(ctx, opts); err != nil {
			d.note("no admin token for /debug/config: %v", err)
		}
	}
	if opts.Env == "" {
		env, why := detectEnv(ctx, root, opts, token)
		opts.Env = env
		if why != "" {
			d.note("%s", why)
		}
	}
	d.report.Env = opts.Env
	d.runnerPorts = opts.Env == localEnv
	configDir, err := opts.configDir(root)
	if err != nil {
		return err
	}
	svcs, err := d.declare(ctx, configDir, opts)
	if err != nil {
		return err
	}
	if !opts.NoRunning {
		d.askRunning(ctx, svcs, opts, token)
	}
	for _, s := range svcs {
		if s.running != nil {
			d.compareRunning(s)
		}
	}
	if opts.K8s != "" {
		d.compareK8s(svcs, objects, opts.NoRunning)
	}

	rep := d.report
	sortRows(rep.Rows)
	drifted, unread := rep.problems()
	rep.Drift = len(drifted) > 0 || len(unread) > 0
	if opts.JSON {
		enc := json.NewEncoder(opts.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		render(opts.Stdout, rep)
	}
	var errs []error
	if err := exportMetrics(ctx, rep, opts); err != nil {
		errs = append(errs, err)
	}
	if len(drifted) > 0 {
		errs = append(errs, fmt.Errorf("%w in %d key(s): %s", errFound, len(drifted), strings.Join(drifted, ", ")))
	}
	if len(unread) > 0 {
		errs = append(errs, fmt.Errorf("could not read: %s", strings.Join(unread, ", ")))
	}
	return errors.Join(errs...)
}

func (o *Options) setDefaults() {
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

func (o *Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// rootDir is the absolute workspace root: Root, or the nearest parent of
// the working directory holding go.work.
func (o *Options) rootDir() (string, error) {
	root := o.Root
	if root == "" {
		wd, err := os.Getwd()
		if err != nil {
			return "", err
		}
		if root, err = workspace.FindRoot(wd); err != nil {
			return "", err
		}
	}
	return filepath.Abs(root)
}

// configDir is the absolute directory of the declared files.
func (o *Options) configDir(root string) (string, error) {
	dir := o.ConfigDir
	if dir == "" {
		dir = filepath.Join(root, "deploy", "config", o.Env)
	}
	return filepath.Abs(dir)
}

// problems names the rows that drifted ("svc key (source)") and the
// sources that could not be read ("svc source").
func (r Report) problems() (drifted, unread []string) {
	for _, row := range r.Rows {
		switch {
		case row.Status == statusFailed:
			unread = append(unread, row.Service+" "+row.Source)
		case row.Drift:
			drifted = append(drifted, fmt.Sprintf("%s %s (%s)", row.Service, row.Key, row.Source))
		}
	}
	return drifted, unread
}

// newDrifter starts a run over root, with the deployment's fingerprint key
// when opts has one or slipway dev left one under root.
func newDrifter(root string, opts Options) *drifter {
	d := &drifter{root: root, report: Report{Env: opts.Env, Rows: []Row{}}, local: redact.RandomFingerprinter()}
	key := opts.FingerprintKey
	if key == "" {
		key = workspace.FingerprintKeyIn(root)
	}
	if key != "" {
		fp := redact.NewFingerprinter([]byte(key))
		d.fp = &fp
	}
	return d
}

// drifter collects the rows and notes of one run.
type drifter struct {
	root   string
	report Report
	// fp fingerprints secrets as the running services do; nil when the
	// deployment's key is not known.
	fp *redact.Fingerprinter
	// local fingerprints secrets that are compared on this side only
	// (declared file against ConfigMap).
	local redact.Fingerprinter
	// runnerPorts: the environment is the local runner's, whose loopback
	// ports are its own choice (sameButLoopbackPorts).
	runnerPorts bool
}

// errNoKey says a secret could not be compared with a running service.
var errNoKey = errors.New("no CONFIG_FINGERPRINT_KEY to compare it with (set it, or --fingerprint-key-file)")

// subject is one service under comparison.
type subject struct {
	info     *Service
	name     string
	declared map[string]*yaml.Node // flattened: dotted key -> leaf node
	schema   *configSchema         // nil when the service's config source cannot be read
	running  map[string]any        // flattened /debug/config "config"; nil when not asked or unreachable
	fp       *redact.Fingerprinter // the key a --k8s Secret of the service carries; nil for the run's
}

func (d *drifter) note(format string, args ...any) {
	d.report.Notes = append(d.report.Notes, fmt.Sprintf(format, args...))
}

func (d *drifter) add(r Row) {
	r.Drift = slices.Contains(problems, r.Status)
	d.report.Rows = append(d.report.Rows, r)
}

// rel shows path relative to the workspace root when it lies inside it.
func (d *drifter) rel(path string) string {
	if r, err := filepath.Rel(d.root, path); err == nil && !strings.HasPrefix(r, "..") {
		return filepath.ToSlash(r)
	}
	return path
}
