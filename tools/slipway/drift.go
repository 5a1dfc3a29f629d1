package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/slipway-dev/slipway/platform/redact"
	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// driftOptions are the inputs of runDrift.
type driftOptions struct {
	Root      string            // workspace root; "" walks up from the working directory to go.work
	Env       string            // environment: the declared files are deploy/config/<Env>/<svc>.yaml
	ConfigDir string            // directory of the declared files; "" is <Root>/deploy/config/<Env>
	Services  []string          // services to check; empty is every service with a declared file
	Targets   map[string]string // HTTP host:port (or URL) of a running service; others use the dev address
	NoRunning bool              // do not ask running services
	K8s       string            // `kubectl get configmap,secret -o json` output: a file, "-" for Stdin, "" for none
	Stdin     io.Reader
	Timeout   time.Duration // for each /debug/config request
	JSON      bool
	Stdout    io.Writer
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

// Statuses of a drift row. Only the ones in driftProblems count as drift.
const (
	driftSame       = "same"       // the source has the declared value
	driftDiffers    = "differs"    // the source has another value
	driftUnknown    = "unknown"    // declared key the service does not have: a declaration error
	driftInvalid    = "invalid"    // declared value that does not parse for its key's type
	driftMissing    = "missing"    // declared key absent from a ConfigMap, or config key the service does not report
	driftExtra      = "extra"      // ConfigMap key that is not declared
	driftFailed     = "error"      // the source could not be read
	driftUndeclared = "undeclared" // running key not declared: a default or the environment (info)
	driftUnchecked  = "unchecked"  // Secret value with nothing to compare it with (info)
	driftUnmapped   = "unmapped"   // Secret key that is no config key of the service (info)
)

var driftProblems = []string{driftDiffers, driftUnknown, driftInvalid, driftMissing, driftExtra, driftFailed}

// Sources of a drift row.
const (
	driftSourceRunning   = "running"
	driftSourceConfigMap = "configmap"
	driftSourceSecret    = "secret"
)

// driftSecretShown stands in for every secret value: neither the value nor its
// hash is printed.
const driftSecretShown = "<secret>"

// driftRow is one key of one service as one source has it; the rows are the
// table and the --json document.
type driftRow struct {
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

// driftService is what drift learnt about one service.
type driftService struct {
	Service  string `json:"service"`
	Declared string `json:"declared"` // the declared file, relative to the root
	Origin   string `json:"origin"`   // "git HEAD <commit>" or "working tree"
	Target   string `json:"target,omitempty"`
	Version  string `json:"version,omitempty"`
	Hash     string `json:"hash,omitempty"` // the running config hash
	Error    string `json:"error,omitempty"`
}

// driftReport is the result of runDrift; it is also the --json document.
type driftReport struct {
	Env      string         `json:"env"`
	Drift    bool           `json:"drift"` // a row counts as drift (an unreadable source does too): exit 1
	Services []driftService `json:"services"`
	Rows     []driftRow     `json:"rows"`
	Notes    []string       `json:"notes,omitempty"`
}

var driftEnvName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

func driftMain(ctx context.Context, args []string, env *cli.Env) error {
	fs := cli.NewFlagSet(env.Stderr, "drift",
		"[--env dev] [--services user,order] [--targets user=127.0.0.1:8081,...] [--k8s FILE|-] [--json]",
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
			"Without --targets each service is asked at its `slipway dev` address (127.0.0.1:8081..8084);\n"+
			"with --targets and no --services only the targeted services are checked.\n"+
			"Exit codes: 0 no drift, 1 drift found or a source could not be read, 2 usage error.")
	opts := driftOptions{
		Stdout: env.Stdout, Stdin: os.Stdin,
		AdminToken:     env.Getenv("SLIPWAY_ADMIN_TOKEN"),
		FingerprintKey: env.Getenv("CONFIG_FINGERPRINT_KEY"),
	}
	opts.AdminEmail, opts.AdminPassword = workspace.AdminCredentials(env.Environ)
	var services, targets, keyFile string
	fs.StringVar(&opts.Env, "env", "dev", "`environment` whose declared files are compared (deploy/config/<env>)")
	fs.StringVar(&services, "services", "", "comma-separated `list` of services (default: every service with a declared file)")
	fs.StringVar(&targets, "targets", "", "comma-separated `svc=host:port` HTTP addresses of the running services")
	fs.BoolVar(&opts.NoRunning, "no-running", false, "do not ask running services (compare with --k8s only)")
	fs.StringVar(&opts.K8s, "k8s", "", "`file` with `kubectl get configmap,secret -o json` output, - for stdin")
	fs.StringVar(&opts.ConfigDir, "config-dir", "", "`dir` of the declared <svc>.yaml files (default deploy/config/<env>)")
	fs.StringVar(&opts.Root, "root", "", "workspace `dir` (default: the nearest parent holding go.work)")
	fs.DurationVar(&opts.Timeout, "timeout", 5*time.Second, "`duration` each running service has to answer")
	fs.BoolVar(&opts.JSON, "json", false, "print the rows as JSON")
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
	for s := range strings.SplitSeq(services, ",") {
		if s = strings.TrimSpace(s); s != "" {
			opts.Services = append(opts.Services, s)
		}
	}
	var err error
	if opts.Targets, err = parseDriftTargets(targets); err != nil {
		return cli.UsageError{Err: err}
	}
	return runDrift(ctx, opts)
}

// parseDriftTargets parses "svc=host:port,svc=host:port".
func parseDriftTargets(s string) (map[string]string, error) {
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

func (o driftOptions) validate() error {
	if !driftEnvName.MatchString(o.Env) {
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
	return nil
}

// errDriftFound is returned when a source differs from the declaration.
var errDriftFound = errors.New("drift found")

// runDrift compares every selected service's declared config with the
// running services and the Kubernetes objects, prints the rows and returns
// an error naming the drifted keys when there are any.
func runDrift(ctx context.Context, opts driftOptions) error {
	if opts.Env == "" {
		opts.Env = "dev"
	}
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	if err := opts.validate(); err != nil {
		return cli.UsageError{Err: err}
	}
	root := opts.Root
	if root == "" {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		if root, err = workspace.FindRoot(wd); err != nil {
			return err
		}
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return err
	}
	configDir := opts.ConfigDir
	if configDir == "" {
		configDir = filepath.Join(root, "deploy", "config", opts.Env)
	}
	if configDir, err = filepath.Abs(configDir); err != nil {
		return err
	}

	var objects []kubeObject
	if opts.K8s != "" {
		if objects, err = readKubeObjects(opts.K8s, opts.Stdin); err != nil {
			return err
		}
	}

	d := &drifter{root: root, report: driftReport{Env: opts.Env, Rows: []driftRow{}}, local: redact.RandomFingerprinter()}
	if opts.FingerprintKey == "" {
		opts.FingerprintKey = workspace.FingerprintKeyIn(root)
	}
	if opts.FingerprintKey != "" {
		fp := redact.NewFingerprinter([]byte(opts.FingerprintKey))
		d.fp = &fp
	}
	svcs, err := d.declare(ctx, configDir, opts)
	if err != nil {
		return err
	}
	if !opts.NoRunning {
		d.askRunning(ctx, svcs, opts)
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
	sortDriftRows(rep.Rows)
	var drifted, unread []string
	for _, r := range rep.Rows {
		switch {
		case r.Status == driftFailed:
			unread = append(unread, r.Service+" "+r.Source)
		case r.Drift:
			drifted = append(drifted, fmt.Sprintf("%s %s (%s)", r.Service, r.Key, r.Source))
		}
	}
	rep.Drift = len(drifted) > 0 || len(unread) > 0
	if opts.JSON {
		enc := json.NewEncoder(opts.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printDrift(opts.Stdout, rep)
	}
	var errs []error
	if len(drifted) > 0 {
		errs = append(errs, fmt.Errorf("%w in %d key(s): %s", errDriftFound, len(drifted), strings.Join(drifted, ", ")))
	}
	if len(unread) > 0 {
		errs = append(errs, fmt.Errorf("could not read: %s", strings.Join(unread, ", ")))
	}
	return errors.Join(errs...)
}

// drifter collects the rows and notes of one run.
type drifter struct {
	root   string
	report driftReport
	// fp fingerprints secrets as the running services do; nil when the
	// deployment's key is not known.
	fp *redact.Fingerprinter
	// local fingerprints secrets that are compared on this side only
	// (declared file against ConfigMap).
	local redact.Fingerprinter
}

// errDriftNoKey says a secret could not be compared with a running service.
var errDriftNoKey = errors.New("no CONFIG_FINGERPRINT_KEY to compare it with (set it, or --fingerprint-key-file)")

// driftTarget is one service under comparison.
type driftTarget struct {
	info     *driftService
	name     string
	declared map[string]*yaml.Node // flattened: dotted key -> leaf node
	schema   *configSchema         // nil when the service's config source cannot be read
	running  map[string]any        // flattened /debug/config "config"; nil when not asked or unreachable
	fp       *redact.Fingerprinter // the key a --k8s Secret of the service carries; nil for the run's
}

func (d *drifter) note(format string, args ...any) {
	d.report.Notes = append(d.report.Notes, fmt.Sprintf(format, args...))
}

func (d *drifter) add(r driftRow) {
	r.Drift = slices.Contains(driftProblems, r.Status)
	d.report.Rows = append(d.report.Rows, r)
}

// rel shows path relative to the workspace root when it lies inside it.
func (d *drifter) rel(path string) string {
	if r, err := filepath.Rel(d.root, path); err == nil && !strings.HasPrefix(r, "..") {
		return filepath.ToSlash(r)
	}
	return path
}

// declare reads the declared file and the config schema of every selected
// service.
func (d *drifter) declare(ctx context.Context, configDir string, opts driftOptions) ([]*driftTarget, error) {
	names := opts.Services
	discover := len(names) == 0 && len(opts.Targets) == 0
	if len(names) == 0 {
		for _, s := range workspace.Known {
			if _, ok := opts.Targets[s.Name]; discover || ok {
				names = append(names, s.Name)
			}
		}
	}
	var svcs []*driftTarget
	for _, name := range names {
		path := filepath.Join(configDir, name+".yaml")
		data, origin, notes, err := readDeclaredConfig(ctx, path)
		if errors.Is(err, os.ErrNotExist) && discover {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("declared config of %s: %w", name, err)
		}
		for _, n := range notes {
			d.note("%s: %s", d.rel(path), n)
		}
		declared, err := flattenConfigYAML(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d.rel(path), err)
		}
		s := &driftTarget{
			info:     &driftService{Service: name, Declared: d.rel(path), Origin: origin},
			name:     name,
			declared: declared,
		}
		if s.schema, err = loadConfigSchema(d.root, name); err != nil {
			d.note("%s: config keys not read from source (%v); value types are taken from the running service", name, err)
		}
		d.report.Services = append(d.report.Services, *s.info)
		svcs = append(svcs, s)
	}
	if len(svcs) == 0 {
		return nil, fmt.Errorf("no declared config in %s: want <svc>.yaml for any of %s",
			d.rel(configDir), strings.Join(workspace.Names(workspace.Known), ", "))
	}
	// Point into the report, now that Services no longer grows.
	for i, s := range svcs {
		s.info = &d.report.Services[i]
	}
	return svcs, nil
}

// readDeclaredConfig returns the file at path as committed at HEAD, or the working
// tree's copy with a note when git does not have it.
func readDeclaredConfig(ctx context.Context, path string) (data []byte, origin string, notes []string, err error) {
	dir, base := filepath.Split(path)
	worktree, wtErr := os.ReadFile(path) //nolint:gosec // the operator chooses the config directory
	committed, commit, gitErr := gitShowHead(ctx, dir, base)
	if gitErr == nil {
		switch {
		case errors.Is(wtErr, os.ErrNotExist):
			notes = append(notes, "deleted in the working tree; the committed version is the declaration")
		case wtErr == nil && !bytes.Equal(worktree, committed):
			notes = append(notes, "has uncommitted changes; the committed version is the declaration, so they show as drift")
		}
		return committed, "git HEAD " + commit, notes, nil
	}
	if wtErr != nil {
		if errors.Is(wtErr, os.ErrNotExist) {
			return nil, "", nil, fmt.Errorf("%s: not in git (%w) nor in the working tree: %w", path, gitErr, os.ErrNotExist)
		}
		return nil, "", nil, wtErr
	}
	notes = append(notes, fmt.Sprintf("not read from git (%v); using the working tree", gitErr))
	return worktree, "working tree", notes, nil
}

// gitShowHead returns the committed content of dir/base at HEAD and the
// short commit.
func gitShowHead(ctx context.Context, dir, base string) ([]byte, string, error) {
	git, err := exec.LookPath("git")
	if err != nil {
		return nil, "", errors.New("git is not installed")
	}
	run := func(args ...string) ([]byte, error) {
		var stdout, stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, git, append([]string{"-C", dir}, args...)...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			msg, _, _ := strings.Cut(strings.TrimSpace(stderr.String()), "\n")
			msg = strings.TrimPrefix(msg, "fatal: ")
			if msg == "" {
				msg = err.Error()
			}
			return nil, errors.New(msg)
		}
		return stdout.Bytes(), nil
	}
	// "HEAD:./name" is resolved relative to dir, wherever the repository's top is.
	data, err := run("show", "HEAD:./"+base)
	if err != nil {
		return nil, "", err
	}
	commit, err := run("rev-parse", "--short", "HEAD")
	if err != nil {
		return nil, "", err
	}
	return data, strings.TrimSpace(string(commit)), nil
}

// flattenConfigYAML parses a config file into its leaf values keyed by dotted
// YAML keys, as config.Load reads it.
func flattenConfigYAML(data []byte) (map[string]*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	out := map[string]*yaml.Node{}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return out, nil // empty, or comments only
	}
	top := derefConfigNode(doc.Content[0])
	if isNullConfigNode(top) {
		return out, nil
	}
	if top.Kind != yaml.MappingNode {
		return nil, errors.New("want a mapping of keys at the top level")
	}
	var walk func(n *yaml.Node, prefix string) error
	walk = func(n *yaml.Node, prefix string) error {
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := prefix + n.Content[i].Value
			v := derefConfigNode(n.Content[i+1])
			if _, dup := out[key]; dup {
				return fmt.Errorf("line %d: key %q repeated", n.Content[i].Line, key)
			}
			if v.Kind == yaml.MappingNode {
				if err := walk(v, key+"."); err != nil {
					return err
				}
				continue
			}
			out[key] = v
		}
		return nil
	}
	return out, walk(top, "")
}

func derefConfigNode(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNullConfigNode(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// debugConfig is the body of a service's /debug/config.
type debugConfig struct {
	Service string         `json:"service"`
	Version string         `json:"version"`
	Hash    string         `json:"hash"`
	Config  map[string]any `json:"config"`
}

// debugConfigURL turns a target (host:port or an http(s) URL) into the URL
// of its /debug/config.
func debugConfigURL(target string) (string, error) {
	if !strings.Contains(target, "://") {
		addr, err := workspace.DialAddr(target)
		if err != nil {
			return "", err
		}
		return "http://" + addr + "/debug/config", nil
	}
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%q: want host:port or an http(s) URL", target)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/debug/config"
	return u.String(), nil
}

// askRunning fetches every service's /debug/config at once.
func (d *drifter) askRunning(ctx context.Context, svcs []*driftTarget, opts driftOptions) {
	var wg sync.WaitGroup
	results := make([]*debugConfig, len(svcs))
	errs := make([]error, len(svcs))
	for _, s := range svcs {
		target := opts.Targets[s.name]
		if target == "" {
			for _, k := range workspace.Known {
				if k.Name == s.name {
					target = "127.0.0.1:" + strconv.Itoa(k.HTTPPort)
				}
			}
		}
		s.info.Target = target
	}
	token, err := driftAdminToken(ctx, opts)
	if err != nil {
		d.note("no admin token for /debug/config: %v", err)
	}
	for i, s := range svcs {
		wg.Go(func() { results[i], errs[i] = fetchDebugConfig(ctx, s.info.Target, opts.Timeout, token) })
	}
	wg.Wait()
	for i, s := range svcs {
		dc, err := results[i], errs[i]
		if err == nil && dc.Service != s.name {
			err = fmt.Errorf("%s serves %q, not %s", s.info.Target, dc.Service, s.name)
		}
		if err != nil {
			s.info.Error = err.Error()
			d.add(driftRow{Service: s.name, Source: driftSourceRunning, Key: "-", Status: driftFailed, Note: err.Error()})
			continue
		}
		s.info.Version, s.info.Hash = dc.Version, dc.Hash
		s.running = map[string]any{}
		flattenConfigJSON(dc.Config, "", s.running)
	}
}

// driftAdminToken is opts.AdminToken, or the token of an admin login at the
// user service's REST API.
func driftAdminToken(ctx context.Context, opts driftOptions) (string, error) {
	if opts.AdminToken != "" || opts.AdminEmail == "" {
		return opts.AdminToken, nil
	}
	target := opts.Targets["user"]
	if target == "" {
		for _, k := range workspace.Known {
			if k.Name == "user" {
				target = "127.0.0.1:" + strconv.Itoa(k.HTTPPort)
			}
		}
	}
	u, err := debugConfigURL(target)
	if err != nil {
		return "", err
	}
	u = strings.TrimSuffix(u, "/debug/config") + "/v1/sessions"
	body, _ := json.Marshal(map[string]string{"email": opts.AdminEmail, "password": opts.AdminPassword})
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("log in as %s: %w", opts.AdminEmail, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("log in as %s at %s: %s (set SLIPWAY_ADMIN_TOKEN, or ADMIN_EMAIL and ADMIN_PASSWORD)", opts.AdminEmail, u, resp.Status)
	}
	var session struct {
		AccessToken string `json:"accessToken"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&session); err != nil || session.AccessToken == "" {
		return "", fmt.Errorf("log in as %s at %s: no access token in the answer", opts.AdminEmail, u)
	}
	return session.AccessToken, nil
}

func fetchDebugConfig(ctx context.Context, target string, timeout time.Duration, token string) (*debugConfig, error) {
	u, err := debugConfigURL(target)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err // names the method and URL
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized, http.StatusForbidden:
		return nil, fmt.Errorf("GET %s: %s: /debug/config needs an admin (set SLIPWAY_ADMIN_TOKEN, or ADMIN_EMAIL and ADMIN_PASSWORD)", u, resp.Status)
	default:
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	dec := json.NewDecoder(io.LimitReader(resp.Body, 4<<20))
	dec.UseNumber()
	var dc debugConfig
	if err := dec.Decode(&dc); err != nil {
		return nil, fmt.Errorf("GET %s: not a /debug/config document: %w", u, err)
	}
	if dc.Config == nil {
		return nil, fmt.Errorf("GET %s: no \"config\" in the answer", u)
	}
	return &dc, nil
}

// flattenConfigJSON flattens nested config maps into dotted keys.
func flattenConfigJSON(m map[string]any, prefix string, out map[string]any) {
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			flattenConfigJSON(sub, prefix+k+".", out)
			continue
		}
		out[prefix+k] = normConfigJSON(v)
	}
}

// normConfigJSON puts a decoded JSON value into the shapes drift compares:
// numbers as float64, lists as []any.
func normConfigJSON(v any) any {
	switch v := v.(type) {
	case json.Number:
		if f, err := v.Float64(); err == nil {
			return f
		}
		return v.String()
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = normConfigJSON(x)
		}
		return out
	}
	return v
}

// compareRunning compares the declared keys of s with its running config.
func (d *drifter) compareRunning(s *driftTarget) {
	for _, key := range slices.Sorted(maps.Keys(s.declared)) {
		f := s.schema.field(key)
		got, ok := s.running[key]
		row := driftRow{Service: s.name, Source: driftSourceRunning, Key: key}
		if !ok {
			row.Declared = driftShown(f, rawConfigNode(s.declared[key]))
			row.Status, row.Note = driftUnknown, "the service has no such key: it refuses this file at start"
			if _, known := s.schema.lookup(key); known {
				row.Status, row.Note = driftMissing, "the running service does not report this key"
			}
			d.add(row)
			continue
		}
		want, err := normConfigYAML(s.declared[key], f, got, d.fingerprinter(s))
		if f.Secret {
			d.note("%s: %s is a secret in the declared file; secrets belong in Secrets", s.info.Declared, key)
		}
		row.Declared, row.Found = driftShown(f, want), driftShown(f, got)
		switch {
		case errors.Is(err, errDriftNoKey):
			row.Declared = driftSecretShown
			row.Status, row.Note = driftUnchecked, err.Error()
		case err != nil:
			row.Declared = driftShown(f, rawConfigNode(s.declared[key]))
			row.Status, row.Note = driftInvalid, err.Error()
		case reflect.DeepEqual(want, got):
			row.Status = driftSame
		default:
			row.Status = driftDiffers
		}
		d.add(row)
	}
	for _, key := range slices.Sorted(maps.Keys(s.running)) {
		if _, ok := s.declared[key]; ok {
			continue
		}
		f := s.schema.field(key)
		got := s.running[key]
		if str, ok := got.(string); ok && (strings.HasPrefix(str, redact.FingerprintPrefix) || strings.HasPrefix(str, "sha256:")) {
			f.Secret = true
		}
		d.add(driftRow{Service: s.name, Source: driftSourceRunning, Key: key, Found: driftShown(f, got), Status: driftUndeclared})
	}
}

// configKind is the type of a config key, as far as comparing values needs.
type configKind int

const (
	configKindUnknown configKind = iota
	configKindString
	configKindDuration
	configKindBool
	configKindNumber
	configKindList
)

// configField is one key of a service's config struct.
type configField struct {
	Key    string // dotted YAML key
	Env    string // environment variable
	Kind   configKind
	Secret bool // secret:"true": shown as hmac-sha256:<hex>
	URL    bool // redact:"url": password masked
}

// configSchema is the keys of a service's config, read from its source.
type configSchema struct {
	byKey map[string]configField
	byEnv map[string]configField
}

// lookup returns the key's field and whether the source declares it.
func (s *configSchema) lookup(key string) (configField, bool) {
	if s == nil {
		return configField{}, false
	}
	f, ok := s.byKey[key]
	return f, ok
}

// field returns the key's field; unknown keys get a zero field (kind
// unknown: the type is taken from the value found).
func (s *configSchema) field(key string) configField {
	if f, ok := s.lookup(key); ok {
		return f
	}
	return configField{Key: key}
}

// driftShown is how a value is printed: secrets never are.
func driftShown(f configField, v any) any {
	if v == nil {
		return nil
	}
	if f.Secret {
		return driftSecretShown
	}
	return v
}

// rawConfigNode is a YAML leaf as written, for keys that cannot be typed.
func rawConfigNode(n *yaml.Node) any {
	if n.Kind == yaml.SequenceNode {
		out := make([]any, 0, len(n.Content))
		for _, item := range n.Content {
			out = append(out, derefConfigNode(item).Value)
		}
		return out
	}
	return n.Value
}

// normConfigYAML turns a declared YAML leaf into the value /debug/config shows for
// it: typed by the field, or by hint (the value found) when the field's type
// is unknown, and redacted like config.Redacted.
func normConfigYAML(n *yaml.Node, f configField, hint any, fp *redact.Fingerprinter) (any, error) {
	kind := f.Kind
	if kind == configKindUnknown {
		kind = inferConfigKind(n, hint)
	}
	var v any
	switch {
	case isNullConfigNode(n):
		v = zeroConfigValue(kind)
	case kind == configKindList:
		if n.Kind != yaml.SequenceNode {
			return nil, errors.New("want a list")
		}
		list := make([]any, 0, len(n.Content))
		for _, item := range n.Content {
			item = derefConfigNode(item)
			if item.Kind != yaml.ScalarNode {
				return nil, errors.New("want a list of strings")
			}
			list = append(list, item.Value)
		}
		v = list
	case n.Kind != yaml.ScalarNode:
		return nil, errors.New("want a single value")
	default:
		var err error
		if v, err = normConfigScalar(kind, n.Value); err != nil {
			return nil, err
		}
	}
	return redactConfigValue(f, v, fp)
}

// normConfigEnv turns an environment variable's value into the value
// /debug/config shows for it, as config.Load reads variables.
func normConfigEnv(s string, f configField, hint any, fp *redact.Fingerprinter) (any, error) {
	kind := f.Kind
	if kind == configKindUnknown {
		kind = inferConfigKind(&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}, hint)
		if _, ok := hint.([]any); ok {
			kind = configKindList
		}
	}
	if kind == configKindList {
		list := []any{}
		for item := range strings.SplitSeq(s, ",") {
			if item = strings.TrimSpace(item); item != "" {
				list = append(list, item)
			}
		}
		return redactConfigValue(f, list, fp)
	}
	v, err := normConfigScalar(kind, s)
	if err != nil {
		return nil, err
	}
	return redactConfigValue(f, v, fp)
}

// inferConfigKind guesses a key's type from the value found for it, or from the
// YAML tag when nothing was found.
func inferConfigKind(n *yaml.Node, hint any) configKind {
	switch h := hint.(type) {
	case bool:
		return configKindBool
	case float64:
		return configKindNumber
	case []any:
		return configKindList
	case string:
		if _, err := time.ParseDuration(strings.TrimSpace(n.Value)); err == nil {
			if _, err := time.ParseDuration(h); err == nil {
				return configKindDuration
			}
		}
		return configKindString
	}
	switch {
	case n.Kind == yaml.SequenceNode:
		return configKindList
	case n.ShortTag() == "!!bool":
		return configKindBool
	case n.ShortTag() == "!!int", n.ShortTag() == "!!float":
		return configKindNumber
	}
	return configKindString
}

func zeroConfigValue(kind configKind) any {
	switch kind {
	case configKindDuration:
		return time.Duration(0).String()
	case configKindBool:
		return false
	case configKindNumber:
		return float64(0)
	case configKindList:
		return []any{}
	}
	return ""
}

// normConfigScalar parses s as config.Load does for a field of kind.
func normConfigScalar(kind configKind, s string) (any, error) {
	if kind != configKindString && kind != configKindUnknown {
		s = strings.TrimSpace(s)
	}
	switch kind {
	case configKindDuration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return nil, errors.New("not a duration")
		}
		return d.String(), nil
	case configKindBool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, errors.New("not a bool (want true or false)")
		}
		return b, nil
	case configKindNumber:
		n, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, errors.New("not a number")
		}
		return n, nil
	}
	return s, nil
}

// redactConfigValue redacts v as config.Redacted does for f, fingerprinting
// secrets with fp (errDriftNoKey when fp is nil).
func redactConfigValue(f configField, v any, fp *redact.Fingerprinter) (any, error) {
	if !f.Secret && !f.URL {
		return v, nil
	}
	one := redact.URL
	if f.Secret {
		if fp == nil {
			return nil, errDriftNoKey
		}
		one = fp.Secret
	}
	switch v := v.(type) {
	case string:
		return one(v), nil
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = one(fmt.Sprint(x))
		}
		return out, nil
	}
	return one(fmt.Sprint(v)), nil
}

// fingerprinter is the key s's running secrets are compared under: one a
// --k8s Secret of s carries, else the run's.
func (d *drifter) fingerprinter(s *driftTarget) *redact.Fingerprinter {
	if s.fp != nil {
		return s.fp
	}
	return d.fp
}

// loadConfigSchema reads the keys of services/<svc>/internal/config's Config
// struct from source, following the tags config.Load follows: yaml names,
// inline structs (config.Base), env, secret and redact.
func loadConfigSchema(root, svc string) (*configSchema, error) {
	r := configSchemaReader{root: root, pkgs: map[string]*configASTPackage{}}
	dir := filepath.Join(root, "services", svc, "internal", "config")
	pkg, err := r.pkg(dir)
	if err != nil {
		return nil, err
	}
	typ, ok := pkg.types["Config"]
	if !ok {
		return nil, fmt.Errorf("no type Config in %s", dir)
	}
	s := &configSchema{byKey: map[string]configField{}, byEnv: map[string]configField{}}
	if err := r.walk(typ, "", s, 0); err != nil {
		return nil, err
	}
	return s, nil
}

// configASTPackage is the type declarations of one parsed package.
type configASTPackage struct {
	dir   string
	types map[string]configASTType
}

// configASTType is a type declaration and the imports of its file.
type configASTType struct {
	pkg     *configASTPackage
	expr    ast.Expr
	imports map[string]string // local name -> import path
}

type configSchemaReader struct {
	root string
	pkgs map[string]*configASTPackage
}

func (r *configSchemaReader) pkg(dir string) (*configASTPackage, error) {
	if p, ok := r.pkgs[dir]; ok {
		return p, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	p := &configASTPackage{dir: dir, types: map[string]configASTType{}}
	fset := token.NewFileSet()
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		imports := map[string]string{}
		for _, im := range f.Imports {
			path, _ := strconv.Unquote(im.Path.Value)
			local := filepath.Base(path)
			if im.Name != nil {
				local = im.Name.Name
			}
			imports[local] = path
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, spec := range gd.Specs {
				if ts, ok := spec.(*ast.TypeSpec); ok {
					p.types[ts.Name.Name] = configASTType{pkg: p, expr: ts.Type, imports: imports}
				}
			}
		}
	}
	r.pkgs[dir] = p
	return p, nil
}

// resolve finds the declaration of a named type used in from: a type of the
// same package, or of a workspace package imported by from's file.
func (r *configSchemaReader) resolve(from configASTType, expr ast.Expr) (configASTType, bool) {
	switch e := expr.(type) {
	case *ast.Ident:
		t, ok := from.pkg.types[e.Name]
		return t, ok
	case *ast.SelectorExpr:
		x, ok := e.X.(*ast.Ident)
		if !ok {
			return configASTType{}, false
		}
		path, ok := from.imports[x.Name]
		if !ok {
			return configASTType{}, false
		}
		dir, ok := r.workspaceDir(path)
		if !ok {
			return configASTType{}, false
		}
		p, err := r.pkg(dir)
		if err != nil {
			return configASTType{}, false
		}
		t, ok := p.types[e.Sel.Name]
		return t, ok
	}
	return configASTType{}, false
}

// workspaceDir maps an import path to a directory under the root: the
// longest tail of the path that exists there ("<module>/platform/config" is
// <root>/platform/config), so a fork's module path needs no configuration.
func (r *configSchemaReader) workspaceDir(path string) (string, bool) {
	parts := strings.Split(path, "/")
	for i := range parts {
		dir := filepath.Join(append([]string{r.root}, parts[i:]...)...)
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			return dir, true
		}
	}
	return "", false
}

// walk adds the fields of the struct type t to s, under prefix.
func (r *configSchemaReader) walk(t configASTType, prefix string, s *configSchema, depth int) error {
	if depth > 10 {
		return errors.New("config structs nest too deep")
	}
	st, ok := t.expr.(*ast.StructType)
	if !ok {
		return errors.New("not a struct")
	}
	for _, fd := range st.Fields.List {
		var tag reflect.StructTag
		if fd.Tag != nil {
			raw, _ := strconv.Unquote(fd.Tag.Value)
			tag = reflect.StructTag(raw)
		}
		name, opts, _ := strings.Cut(tag.Get("yaml"), ",")
		embedded := len(fd.Names) == 0
		if slices.Contains(strings.Split(opts, ","), "inline") || (embedded && name == "") {
			inner, ok := r.resolve(t, fd.Type)
			if !ok {
				return fmt.Errorf("cannot find the inline struct %s", configTypeString(fd.Type))
			}
			if err := r.walk(inner, prefix, s, depth+1); err != nil {
				return err
			}
			continue
		}
		for _, id := range fd.Names {
			if !id.IsExported() || name == "-" {
				continue
			}
			key := name
			if key == "" {
				key = strings.ToLower(id.Name)
			}
			kind, nested := r.kindOf(t, fd.Type, 0)
			if nested != nil {
				if err := r.walk(*nested, prefix+key+".", s, depth+1); err != nil {
					return err
				}
				continue
			}
			f := configField{
				Key:    prefix + key,
				Env:    tag.Get("env"),
				Kind:   kind,
				Secret: tag.Get("secret") == "true",
				URL:    tag.Get("redact") == "url",
			}
			s.byKey[f.Key] = f
			if f.Env != "" {
				s.byEnv[f.Env] = f
			}
		}
	}
	return nil
}

// kindOf is the kind of a field type, or the struct it nests.
func (r *configSchemaReader) kindOf(from configASTType, expr ast.Expr, depth int) (configKind, *configASTType) {
	switch e := expr.(type) {
	case *ast.Ident:
		switch e.Name {
		case "string":
			return configKindString, nil
		case "bool":
			return configKindBool, nil
		case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64",
			"float32", "float64":
			return configKindNumber, nil
		}
	case *ast.SelectorExpr:
		if x, ok := e.X.(*ast.Ident); ok && from.imports[x.Name] == "time" && e.Sel.Name == "Duration" {
			return configKindDuration, nil
		}
	case *ast.ArrayType:
		if id, ok := e.Elt.(*ast.Ident); ok && e.Len == nil && id.Name == "string" {
			return configKindList, nil
		}
		return configKindUnknown, nil
	default:
		return configKindUnknown, nil
	}
	// A named type: nest its struct, or use the kind of its underlying type.
	// Types with their own text form stay unknown and take the running shape.
	t, ok := r.resolve(from, expr)
	if !ok || depth > 5 {
		return configKindUnknown, nil
	}
	if _, isStruct := t.expr.(*ast.StructType); isStruct {
		return configKindUnknown, &t
	}
	k, _ := r.kindOf(t, t.expr, depth+1)
	return k, nil
}

func configTypeString(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		return configTypeString(e.X) + "." + e.Sel.Name
	}
	return fmt.Sprintf("%T", e)
}

// kubeObject is the part of a Kubernetes object drift reads.
type kubeObject struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name      string            `json:"name"`
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
	} `json:"metadata"`
	Data       map[string]string `json:"data"`
	StringData map[string]string `json:"stringData"`
	Items      []json.RawMessage `json:"items"`
}

// readKubeObjects reads the ConfigMaps and Secrets of `kubectl get -o json`
// output: a List, or one object.
func readKubeObjects(path string, stdin io.Reader) ([]kubeObject, error) {
	var data []byte
	var err error
	if path == "-" {
		if stdin == nil {
			stdin = os.Stdin
		}
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(path) //nolint:gosec // the operator chooses the file
	}
	if err != nil {
		return nil, fmt.Errorf("--k8s: %w", err)
	}
	var out []kubeObject
	var add func(raw []byte, depth int) error
	add = func(raw []byte, depth int) error {
		var o kubeObject
		if err := json.Unmarshal(raw, &o); err != nil {
			return err
		}
		switch {
		case strings.HasSuffix(o.Kind, "List") && depth == 0:
			for _, item := range o.Items {
				if err := add(item, depth+1); err != nil {
					return err
				}
			}
		case o.Kind == "ConfigMap":
			out = append(out, o)
		case o.Kind == "Secret":
			decoded := make(map[string]string, len(o.Data)+len(o.StringData))
			for k, v := range o.Data {
				b, err := base64.StdEncoding.DecodeString(v)
				if err != nil {
					return fmt.Errorf("secret %s: data %s is not base64", o.Metadata.Name, k)
				}
				decoded[k] = string(b)
			}
			maps.Copy(decoded, o.StringData)
			o.Data, o.StringData = decoded, nil
			out = append(out, o)
		}
		return nil
	}
	if err := add(data, 0); err != nil {
		return nil, fmt.Errorf("--k8s %s: want `kubectl get configmap,secret -o json` output: %w", path, err)
	}
	return out, nil
}

// configMapFile returns the data key of cm that holds svc's config file:
// "<svc>.yaml" (what a kustomize configMapGenerator makes of
// deploy/config/<env>/<svc>.yaml), or the only YAML key of a ConfigMap named
// <svc>-config (with or without the generator's hash suffix).
func configMapFile(cm kubeObject, svc string) (string, bool) {
	for _, k := range []string{svc + ".yaml", svc + ".yml"} {
		if _, ok := cm.Data[k]; ok {
			return k, true
		}
	}
	name := cm.Metadata.Name
	if name != svc+"-config" && !strings.HasPrefix(name, svc+"-config-") {
		return "", false
	}
	var yamlKeys []string
	for k := range cm.Data {
		if strings.HasSuffix(k, ".yaml") || strings.HasSuffix(k, ".yml") {
			yamlKeys = append(yamlKeys, k)
		}
	}
	if len(yamlKeys) != 1 {
		return "", false
	}
	return yamlKeys[0], true
}

// secretOwner is the service a Secret belongs to: its
// app.kubernetes.io/name label (as deploy/k8s's generators set it), else its
// name (<svc>, <svc>-secrets-<hash>); "" for a Secret every service may read.
func secretOwner(sec kubeObject) string {
	for _, s := range workspace.Known {
		if sec.Metadata.Labels["app.kubernetes.io/name"] == s.Name {
			return s.Name
		}
	}
	for _, s := range workspace.Known {
		if sec.Metadata.Name == s.Name || strings.HasPrefix(sec.Metadata.Name, s.Name+"-") {
			return s.Name
		}
	}
	return ""
}

func kubeObjectName(o kubeObject) string {
	if o.Metadata.Namespace != "" {
		return o.Metadata.Namespace + "/" + o.Metadata.Name
	}
	return o.Metadata.Name
}

// compareK8s compares the ConfigMaps with the declared files and the
// Secrets with the running services.
func (d *drifter) compareK8s(svcs []*driftTarget, objects []kubeObject, noRunning bool) {
	seen := map[string]bool{}
	for _, o := range objects {
		if o.Kind != "ConfigMap" {
			continue
		}
		for _, s := range svcs {
			if file, ok := configMapFile(o, s.name); ok {
				seen[s.name] = true
				d.compareConfigMap(s, o, file)
			}
		}
	}
	for _, s := range svcs {
		if !seen[s.name] {
			d.note("%s: no ConfigMap in the --k8s input holds %s.yaml", s.name, s.name)
		}
	}
	// A Secret that carries the deployment's fingerprint key gives it to
	// the services it belongs to: their secrets compare under it.
	for _, o := range objects {
		key := strings.TrimSpace(o.Data["CONFIG_FINGERPRINT_KEY"])
		if o.Kind != "Secret" || key == "" {
			continue
		}
		owner := secretOwner(o)
		for _, s := range svcs {
			if s.fp == nil && (owner == "" || owner == s.name) {
				fp := redact.NewFingerprinter([]byte(key))
				s.fp = &fp
			}
		}
	}
	for _, o := range objects {
		if o.Kind == "Secret" {
			d.compareSecret(svcs, o, noRunning)
		}
	}
}

func (d *drifter) compareConfigMap(s *driftTarget, cm kubeObject, file string) {
	obj := kubeObjectName(cm) + ":" + file
	found, err := flattenConfigYAML([]byte(cm.Data[file]))
	if err != nil {
		d.add(driftRow{Service: s.name, Source: driftSourceConfigMap, Object: obj, Key: "-", Status: driftFailed, Note: err.Error()})
		return
	}
	keys := slices.Sorted(maps.Keys(s.declared))
	for k := range found {
		if _, ok := s.declared[k]; !ok {
			keys = append(keys, k)
		}
	}
	for _, key := range keys {
		f := s.schema.field(key)
		dn, declared := s.declared[key]
		fn, inMap := found[key]
		row := driftRow{Service: s.name, Source: driftSourceConfigMap, Object: obj, Key: key}
		// Both sides are YAML: a key of unknown type is typed by the tags
		// of the declared side, so "15m" and "900s" compare equal.
		var want, got any
		var wantErr, gotErr error
		if declared {
			want, wantErr = normConfigYAML(dn, f, nil, &d.local)
			if wantErr != nil {
				want = rawConfigNode(dn)
			}
			row.Declared = driftShown(f, want)
		}
		if inMap {
			hint := any(nil)
			if declared && wantErr == nil {
				hint = want
			}
			got, gotErr = normConfigYAML(fn, f, hint, &d.local)
			if gotErr != nil {
				got = rawConfigNode(fn)
			}
			row.Found = driftShown(f, got)
		}
		switch {
		case !inMap:
			row.Status, row.Note = driftMissing, "declared but not in the ConfigMap"
		case !declared:
			row.Status, row.Note = driftExtra, "in the ConfigMap but not declared"
		case wantErr != nil:
			row.Status, row.Note = driftInvalid, "declared value: "+wantErr.Error()
		case gotErr != nil:
			row.Status, row.Note = driftDiffers, "ConfigMap value: "+gotErr.Error()
		case reflect.DeepEqual(want, got):
			row.Status = driftSame
		default:
			row.Status = driftDiffers
		}
		if f.Secret && inMap {
			d.note("%s: %s is a secret in a ConfigMap; secrets belong in Secrets", obj, key)
		}
		d.add(row)
	}
}

// compareSecret compares each value of a Secret, by hash, with the config
// key of the environment variable it sets in the running service.
func (d *drifter) compareSecret(svcs []*driftTarget, sec kubeObject, noRunning bool) {
	owner := secretOwner(sec)
	obj := kubeObjectName(sec)
	for _, env := range slices.Sorted(maps.Keys(sec.Data)) {
		value := sec.Data[env]
		matched := false
		for _, s := range svcs {
			if owner != "" && owner != s.name {
				continue
			}
			var f configField
			var ok bool
			if s.schema != nil {
				f, ok = s.schema.byEnv[env]
			}
			if !ok {
				if owner == s.name {
					d.add(driftRow{Service: s.name, Source: driftSourceSecret, Object: obj, Key: "-", Env: env, Status: driftUnmapped,
						Note: "no config key of " + s.name + " reads this variable"})
					matched = true
				}
				continue
			}
			matched = true
			// Secret values are sensitive whatever the key: none is printed.
			f.Secret = true
			row := driftRow{Service: s.name, Source: driftSourceSecret, Object: obj, Key: f.Key, Env: env, Declared: driftSecretShown}
			got, inRunning := s.running[f.Key]
			switch {
			case strings.TrimSpace(value) == "":
				row.Status, row.Note = driftUnchecked, "empty: counts as unset"
			case s.running == nil:
				row.Status, row.Note = driftUnchecked, "the running service was not read"
				if noRunning {
					row.Note = "--no-running"
				}
			case !inRunning:
				row.Status, row.Note = driftMissing, "the running service does not report "+f.Key
			default:
				row.Found = driftSecretShown
				plain := s.schema.byEnv[env] // unredacted form: how the service shows this key
				want, err := normConfigEnv(value, plain, got, d.fingerprinter(s))
				switch {
				case errors.Is(err, errDriftNoKey):
					row.Found = nil
					row.Status, row.Note = driftUnchecked, err.Error()
				case err != nil:
					row.Status, row.Note = driftInvalid, "the value is "+err.Error()
				case reflect.DeepEqual(want, got):
					row.Status = driftSame
				default:
					row.Status = driftDiffers
				}
				if plain.URL && !plain.Secret && row.Status == driftSame {
					row.Note = "compared with the password masked"
				}
			}
			d.add(row)
		}
		if !matched && owner == "" {
			d.note("secret %s: %s is no config key of %s", obj, env, strings.Join(driftTargetNames(svcs), ", "))
		}
	}
}

func driftTargetNames(svcs []*driftTarget) []string {
	names := make([]string, len(svcs))
	for i, s := range svcs {
		names[i] = s.name
	}
	return names
}

// sortDriftRows orders rows by service (start order), source, object, then drift
// first and key.
func sortDriftRows(rows []driftRow) {
	svcRank := func(name string) int {
		return slices.IndexFunc(workspace.Known, func(d workspace.Service) bool { return d.Name == name })
	}
	srcRank := map[string]int{driftSourceRunning: 0, driftSourceConfigMap: 1, driftSourceSecret: 2}
	slices.SortStableFunc(rows, func(a, b driftRow) int {
		switch {
		case svcRank(a.Service) != svcRank(b.Service):
			return svcRank(a.Service) - svcRank(b.Service)
		case srcRank[a.Source] != srcRank[b.Source]:
			return srcRank[a.Source] - srcRank[b.Source]
		case a.Object != b.Object:
			return strings.Compare(a.Object, b.Object)
		case a.Status == driftUndeclared && b.Status != driftUndeclared:
			return 1
		case b.Status == driftUndeclared && a.Status != driftUndeclared:
			return -1
		}
		return strings.Compare(a.Key+a.Env, b.Key+b.Env)
	})
}

// printDrift prints the services, the table of declared keys, the keys that
// run undeclared, and the notes.
func printDrift(w io.Writer, rep driftReport) {
	for _, s := range rep.Services {
		fmt.Fprintf(w, "%s: declared %s (%s)", s.Service, s.Declared, s.Origin)
		switch {
		case s.Error != "":
			fmt.Fprintf(w, "; running at %s: %s", s.Target, s.Error)
		case s.Target != "":
			fmt.Fprintf(w, "; running at %s, version %s, config hash %s", s.Target, s.Version, s.Hash)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tSOURCE\tKEY\tDECLARED\tFOUND\tSTATUS")
	undeclared := map[string][]string{}
	drifted, unread, same := 0, 0, 0
	for _, r := range rep.Rows {
		if r.Status == driftUndeclared {
			undeclared[r.Service] = append(undeclared[r.Service], r.Key)
			continue
		}
		src := r.Source
		if r.Object != "" {
			src += " " + r.Object
		}
		key := r.Key
		if r.Env != "" {
			key = r.Env
			if r.Key != "-" {
				key = r.Key + " (" + r.Env + ")"
			}
		}
		status := r.Status
		switch {
		case r.Status == driftFailed:
			status = strings.ToUpper(status)
			unread++
		case r.Drift:
			status = strings.ToUpper(status)
			drifted++
		case r.Status == driftSame:
			same++
		}
		if r.Note != "" {
			status += ": " + r.Note
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Service, src, key, driftDisplay(r.Declared), driftDisplay(r.Found), status)
	}
	_ = tw.Flush()
	for _, s := range rep.Services {
		if keys := undeclared[s.Service]; len(keys) > 0 {
			fmt.Fprintf(w, "info: %s runs %d key(s) not declared (defaults or environment): %s\n",
				s.Service, len(keys), strings.Join(keys, ", "))
		}
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	switch {
	case drifted > 0:
		fmt.Fprintf(w, "drift: %d key(s) differ from the declaration, %d as declared\n", drifted, same)
	case unread == 0:
		fmt.Fprintf(w, "no drift: %d key(s) as declared\n", same)
	}
	if unread > 0 {
		fmt.Fprintf(w, "%d source(s) could not be read\n", unread)
	}
}

// driftDisplay is a value as the table shows it.
func driftDisplay(v any) string {
	switch v := v.(type) {
	case nil:
		return "-"
	case string:
		if v == "" {
			return `""`
		}
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
