package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// configDir holds the declared configuration: deploy/config/<env>/<svc>.yaml,
// the files `slipway drift` compares with the running services and the
// overlays of deploy/k8s turn into ConfigMaps.
const configDir = "deploy/config"

// configKey is one key of a service's YAML config file, as its config struct
// declares it.
type configKey struct {
	Key    string // the YAML key, dotted inside a nested mapping
	Env    string // the environment variable that overrides it
	Secret bool   // secret:"true": only ever from a Secret, never in a file
	URL    bool   // redact:"url": a URL whose password is masked
	Type   string // the Go type: string, bool, int, time.Duration, []string, ...
}

// configKeys returns the YAML keys of the struct type typeName in the
// package at dir, as platform/config.Load reads them: yaml:",inline" and
// untagged embedded structs share the parent's keys, other struct fields are
// nested mappings, a field without a yaml tag is its lower-cased name, and
// yaml:"-" is no key. Like configEnv it reads the source, never imports it.
func configKeys(root, dir, typeName string) (map[string]configKey, error) {
	w := keyWalker{root: root, pkgs: make(map[string]*goPackage), keys: make(map[string]configKey)}
	if err := w.named(dir, typeName, "", 0); err != nil {
		return nil, err
	}
	if len(w.keys) == 0 {
		return nil, fmt.Errorf("%s.%s declares no YAML key", dir, typeName)
	}
	return w.keys, nil
}

type keyWalker struct {
	root string
	pkgs map[string]*goPackage
	keys map[string]configKey
}

func (w *keyWalker) pkg(dir string) (*goPackage, error) {
	if p, ok := w.pkgs[dir]; ok {
		return p, nil
	}
	p, err := parseGoDir(dir)
	if err != nil {
		return nil, err
	}
	w.pkgs[dir] = p
	return p, nil
}

// resolve finds the declaration of a named type used in file (of the package
// at dir): a type of the same package or of a package in this repository.
func (w *keyWalker) resolve(dir string, file *ast.File, e ast.Expr) (string, typeDecl, bool) {
	switch e := e.(type) {
	case *ast.Ident:
		if p, err := w.pkg(dir); err == nil {
			if td, ok := p.types[e.Name]; ok {
				return dir, td, true
			}
		}
	case *ast.SelectorExpr:
		x, ok := e.X.(*ast.Ident)
		if !ok {
			return "", typeDecl{}, false
		}
		imp := importPath(file, x.Name)
		if !strings.HasPrefix(imp, modulePrefix) {
			return "", typeDecl{}, false
		}
		pdir := filepath.Join(w.root, filepath.FromSlash(strings.TrimPrefix(imp, modulePrefix)))
		if p, err := w.pkg(pdir); err == nil {
			if td, ok := p.types[e.Sel.Name]; ok {
				return pdir, td, true
			}
		}
	}
	return "", typeDecl{}, false
}

func (w *keyWalker) named(dir, name, prefix string, depth int) error {
	p, err := w.pkg(dir)
	if err != nil {
		return err
	}
	td, ok := p.types[name]
	if !ok {
		return fmt.Errorf("no type %s in %s", name, dir)
	}
	st, ok := td.expr.(*ast.StructType)
	if !ok {
		return fmt.Errorf("%s.%s is not a struct", dir, name)
	}
	return w.fields(dir, td.file, st, prefix, depth)
}

func (w *keyWalker) fields(dir string, file *ast.File, st *ast.StructType, prefix string, depth int) error {
	if depth > 8 {
		return fmt.Errorf("config struct nested too deeply at %q", prefix)
	}
	for _, f := range st.Fields.List {
		var tag reflect.StructTag
		if f.Tag != nil {
			s, err := strconv.Unquote(f.Tag.Value)
			if err != nil {
				return err
			}
			tag = reflect.StructTag(s)
		}
		name, opts, _ := strings.Cut(tag.Get("yaml"), ",")
		typ := f.Type
		if star, ok := typ.(*ast.StarExpr); ok {
			typ = star.X
		}
		inline := slices.Contains(strings.Split(opts, ","), "inline") || (len(f.Names) == 0 && name == "")
		if inline {
			pdir, td, ok := w.resolve(dir, file, typ)
			if !ok {
				return fmt.Errorf("inline field %s: type not found in this repository", exprText(f.Type))
			}
			st, ok := td.expr.(*ast.StructType)
			if !ok {
				return fmt.Errorf("inline field %s is not a struct", exprText(f.Type))
			}
			if err := w.fields(pdir, td.file, st, prefix, depth+1); err != nil {
				return err
			}
			continue
		}
		for _, n := range f.Names {
			if !n.IsExported() || name == "-" {
				continue
			}
			key := name
			if key == "" {
				key = strings.ToLower(n.Name)
			}
			if prefix != "" {
				key = prefix + "." + key
			}
			// A struct of this repository is a nested mapping.
			if pdir, td, ok := w.resolve(dir, file, typ); ok {
				if st, isStruct := td.expr.(*ast.StructType); isStruct {
					if err := w.fields(pdir, td.file, st, key, depth+1); err != nil {
						return err
					}
					continue
				}
				typ = td.expr // a named scalar: its underlying type
			}
			w.keys[key] = configKey{
				Key:    key,
				Env:    tag.Get("env"),
				Secret: tag.Get("secret") == "true",
				URL:    tag.Get("redact") == "url",
				Type:   exprText(typ),
			}
		}
	}
	return nil
}

// exprText prints a type expression: string, time.Duration, []string.
func exprText(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		return exprText(e.X) + "." + e.Sel.Name
	case *ast.StarExpr:
		return "*" + exprText(e.X)
	case *ast.ArrayType:
		return "[]" + exprText(e.Elt)
	case *ast.MapType:
		return "map[" + exprText(e.Key) + "]" + exprText(e.Value)
	}
	return fmt.Sprintf("%T", e)
}

// serviceConfigKeys returns the YAML keys of every service's Config.
func serviceConfigKeys(t testing.TB) map[string]map[string]configKey {
	t.Helper()
	root := repoRoot(t)
	out := make(map[string]map[string]configKey)
	for name := range slipwayServices(t) {
		keys, err := configKeys(root, filepath.Join(root, "services", name, "internal", "config"), "Config")
		require.NoError(t, err, "service %s", name)
		out[name] = keys
	}
	return out
}

// notDeclared are keys a declared file must not hold: secrets come from
// Kubernetes Secrets as environment variables, and the database and Redis
// URLs carry passwords even though they are not tagged secret (unset,
// REDIS_URL keeps caches and rate limits in memory).
var notDeclared = []string{"database_url", "redis_url"}

// fromImage are keys the image sets through the environment (GRPC_ADDR,
// HTTP_ADDR in deploy/docker/Dockerfile), which overrides a file: a declared
// value could only disagree.
var fromImage = []string{"grpc_addr", "http_addr"}

// adminAddr is the optional admin listener (/debug, /admin, pprof). Empty
// keeps those endpoints on the HTTP port behind the admin role; when set it
// must be loopback: reached with kubectl port-forward, never from the network.
const adminAddr = "admin_addr"

// requiredKeys are the keys every declared file must set: the lifecycle
// timings the pods' grace periods are computed from, and every address or
// URL whose default points at 127.0.0.1, which is nothing in a cluster.
// advertise_addr only matters with etcd discovery, where each pod sets its own.
func requiredKeys(keys map[string]configKey) []string {
	req := []string{"log_level", "drain_delay", "shutdown_timeout", "discovery"}
	for k, ck := range keys {
		if ck.Secret || slices.Contains(notDeclared, k) || slices.Contains(fromImage, k) || k == "advertise_addr" || k == adminAddr {
			continue
		}
		if strings.HasSuffix(k, "_url") || strings.HasSuffix(k, "_addr") {
			req = append(req, k)
		}
	}
	slices.Sort(req)
	return req
}

// flatYAML is one scalar or list of a YAML file, by dotted key.
type flatYAML struct {
	node *yaml.Node
	line int
}

// flattenConfig reads a config file into its leaves, dotted through the
// mappings that keys declares as nested. Duplicate keys are an error, as
// they are for config.Load.
func flattenConfig(data []byte, keys map[string]configKey) (map[string]flatYAML, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	out := make(map[string]flatYAML)
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return out, nil
	}
	isNested := func(prefix string) bool {
		for k := range keys {
			if strings.HasPrefix(k, prefix+".") {
				return true
			}
		}
		return false
	}
	var walk func(n *yaml.Node, prefix string) error
	walk = func(n *yaml.Node, prefix string) error {
		if n.Kind != yaml.MappingNode {
			return fmt.Errorf("line %d: %s: want a mapping", n.Line, orTopLevel(prefix))
		}
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := k.Value
			if prefix != "" {
				key = prefix + "." + key
			}
			if line, dup := seen[k.Value]; dup {
				return fmt.Errorf("line %d: key %q repeated (first on line %d)", k.Line, key, line)
			}
			seen[k.Value] = k.Line
			if v.Kind == yaml.MappingNode && isNested(key) {
				if err := walk(v, key); err != nil {
					return err
				}
				continue
			}
			out[key] = flatYAML{node: v, line: k.Line}
		}
		return nil
	}
	return out, walk(doc.Content[0], "")
}

func orTopLevel(prefix string) string {
	if prefix == "" {
		return "top level"
	}
	return prefix
}

// checkDeclaredConfig returns what is wrong with the declared config file
// (data) of service svc: keys its config does not have (the service would
// refuse to start), secrets, values that do not parse as their key's type,
// missing required keys, loopback addresses and listen addresses that
// disagree with the service's ports.
func checkDeclaredConfig(svc service, keys map[string]configKey, data []byte, env string) []string {
	leaves, err := flattenConfig(data, keys)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	bad := func(key string, line int, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("line %d: %s: %s", line, key, fmt.Sprintf(format, args...)))
	}
	for _, key := range sortedNames(leaves) {
		leaf := leaves[key]
		ck, ok := keys[key]
		switch {
		case !ok:
			bad(key, leaf.line, "not a key of services/%s's config: the service refuses to start with it", svc.Name)
			continue
		case ck.Secret:
			bad(key, leaf.line, "is a secret (%s): it comes from the Secret %s-secrets, never from a file in git", ck.Env, svc.Name)
			continue
		case slices.Contains(notDeclared, key):
			bad(key, leaf.line, "carries a password: %s comes from the Secret %s-secrets", ck.Env, svc.Name)
			continue
		}
		values, err := checkValue(ck, leaf.node)
		if err != nil {
			bad(key, leaf.line, "%v", err)
			continue
		}
		for _, v := range values {
			if reason := checkSemantics(svc, ck, v, env); reason != "" {
				bad(key, leaf.line, "%q: %s", v, reason)
			}
		}
	}
	for _, key := range requiredKeys(keys) {
		if _, ok := leaves[key]; !ok {
			problems = append(problems, fmt.Sprintf("%s: not declared; the default is not right for a cluster", key))
		}
	}
	return problems
}

// checkValue parses a YAML value as config.Load does for the key's type and
// returns its scalar values (the items of a list).
func checkValue(ck configKey, n *yaml.Node) ([]string, error) {
	if n.Kind == yaml.AliasNode {
		return nil, errors.New("aliases make the declared value hard to read; write it out")
	}
	if ck.Type == "[]string" {
		if n.Kind != yaml.SequenceNode {
			return nil, errors.New("want a list")
		}
		var out []string
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode {
				return nil, errors.New("want a list of strings")
			}
			out = append(out, item.Value)
		}
		return out, nil
	}
	if n.Kind != yaml.ScalarNode {
		return nil, errors.New("want a single value")
	}
	s := n.Value
	var err error
	switch ck.Type {
	case "time.Duration":
		var d time.Duration
		if d, err = time.ParseDuration(strings.TrimSpace(s)); err == nil && d < 0 {
			err = errors.New("negative")
		}
	case "bool":
		_, err = strconv.ParseBool(strings.TrimSpace(s))
	case "int", "int8", "int16", "int32", "int64":
		_, err = strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	case "uint", "uint8", "uint16", "uint32", "uint64":
		_, err = strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	case "float32", "float64":
		_, err = strconv.ParseFloat(strings.TrimSpace(s), 64)
	case "string":
	default:
		return nil, fmt.Errorf("type %s: this test does not know how config.Load parses it", ck.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%q is not a %s", s, ck.Type)
	}
	return []string{s}, nil
}

// localEnv is deploy/config/local, what slipway dev runs on a workstation:
// there the peers, the JWKS and NATS are processes on the same machine, so
// a loopback address is right, not the pod itself.
const localEnv = "local"

// checkSemantics returns why a value cannot work in env, or "".
func checkSemantics(svc service, ck configKey, v, env string) string {
	switch {
	case ck.Key == "log_level":
		if !slices.Contains([]string{"debug", "info", "warn", "error"}, v) {
			return "want debug, info, warn or error"
		}
	case ck.Key == "discovery":
		if v != "static" && !strings.HasPrefix(v, "etcd://") {
			return `want "static" or "etcd://host:port"`
		}
	case ck.Key == "cors_allowed_origins":
		if strings.Contains(v, "*") {
			return "wildcard origins are refused at start"
		}
	case ck.Key == adminAddr:
		host, _, err := net.SplitHostPort(v)
		if v != "" && (err != nil || !isLoopback(host)) {
			return "the admin listener must be loopback (127.0.0.1:port): reach it with kubectl port-forward"
		}
	case slices.Contains(fromImage, ck.Key):
		want := svc.GRPCPort
		if ck.Key == "http_addr" {
			want = svc.HTTPPort
		}
		if _, port, err := net.SplitHostPort(v); err != nil || port != strconv.Itoa(want) {
			return fmt.Sprintf("the image, the probes and the Services use port %d", want)
		}
	case strings.HasSuffix(ck.Key, "_url"):
		u, err := url.Parse(v)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return "want an absolute URL"
		}
		if _, hasPassword := u.User.Password(); hasPassword {
			return "holds a password: move the key to the Secret"
		}
		if isLoopback(u.Hostname()) && env != localEnv {
			return "a loopback address is the pod itself"
		}
	case strings.HasSuffix(ck.Key, "_addr"):
		host, _, err := net.SplitHostPort(strings.TrimPrefix(v, "dns:///"))
		if err != nil {
			return "want host:port or dns:///host:port"
		}
		if isLoopback(host) && env != localEnv {
			return "a loopback address is the pod itself"
		}
	}
	return ""
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// configEnvs are the environments with declared files: deploy/config/<env>.
func configEnvs(t testing.TB) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(repoRoot(t), configDir))
	require.NoError(t, err)
	var envs []string
	for _, e := range entries {
		if e.IsDir() {
			envs = append(envs, e.Name())
		}
	}
	require.NotEmpty(t, envs, "no environment under %s", configDir)
	return envs
}

func TestDeclaredConfig(t *testing.T) {
	root := repoRoot(t)
	services := slipwayServices(t)
	keys := serviceConfigKeys(t)
	envs := configEnvs(t)
	assert.Subset(t, envs, []string{"dev", "prod"})
	for _, env := range envs {
		t.Run(env, func(t *testing.T) {
			dir := filepath.Join(root, configDir, env)
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			for _, e := range entries {
				name := e.Name()
				svc := strings.TrimSuffix(name, ".yaml")
				_, isService := services[svc]
				assert.True(t, name == "kustomization.yaml" || (isService && !e.IsDir()),
					"%s/%s: want only <svc>.yaml per service and the kustomization.yaml that turns them into ConfigMaps", env, name)
			}
			for _, name := range sortedNames(services) {
				t.Run(name, func(t *testing.T) {
					data, err := os.ReadFile(filepath.Join(dir, name+".yaml"))
					require.NoError(t, err, "every service needs a declared config per environment")
					assert.Empty(t, checkDeclaredConfig(services[name], keys[name], data, env))
				})
			}
		})
	}
}

// The same service is configured alike in every environment: a key
// declared in one environment's file and not another's is a difference
// nobody chose.
func TestDeclaredConfigSameKeysInEveryEnvironment(t *testing.T) {
	root := repoRoot(t)
	services := slipwayServices(t)
	keys := serviceConfigKeys(t)
	// Keys an environment may leave out on purpose: the admin account; TLS,
	// which dev leaves off (plaintext) and prod turns on; the admin listener,
	// which prod moves to loopback.
	optional := map[string][]string{"user": {"admin_email"}}
	tlsKeys := []string{"tls_cert_file", "tls_key_file", "tls_ca_file", "tls_trust_domain", adminAddr}
	for _, name := range sortedNames(services) {
		optional[name] = append(optional[name], tlsKeys...)
	}
	for _, name := range sortedNames(services) {
		declared := make(map[string][]string)
		for _, env := range configEnvs(t) {
			data, err := os.ReadFile(filepath.Join(root, configDir, env, name+".yaml"))
			require.NoError(t, err)
			leaves, err := flattenConfig(data, keys[name])
			require.NoError(t, err)
			for k := range leaves {
				if !slices.Contains(optional[name], k) {
					declared[env] = append(declared[env], k)
				}
			}
		}
		var first []string
		for _, env := range sortedNames(declared) {
			slices.Sort(declared[env])
			if first == nil {
				first = declared[env]
				continue
			}
			assert.Equal(t, first, declared[env], "%s: environments declare different keys", name)
		}
	}
}

func TestConfigKeysReadTheStructs(t *testing.T) {
	keys := serviceConfigKeys(t)
	// Base's keys are inline in every service; yaml:"-" is no key.
	for _, name := range sortedNames(keys) {
		assert.Contains(t, keys[name], "drain_delay", name)
		assert.Equal(t, "time.Duration", keys[name]["drain_delay"].Type, name)
		assert.Equal(t, "[]string", keys[name]["cors_allowed_origins"].Type, name)
		assert.NotContains(t, keys[name], "service", name)
		assert.NotContains(t, keys[name], "base", name)
	}
	assert.True(t, keys["user"]["signing_key"].Secret)
	assert.Equal(t, "AUTH_SIGNING_KEY", keys["user"]["signing_key"].Env)
	assert.True(t, keys["order"]["service_account_password"].Secret)
	assert.True(t, keys["notification"]["webhook_url"].Secret)
	assert.True(t, keys["inventory"]["nats_url"].URL)
	assert.False(t, keys["inventory"]["nats_url"].Secret)
}

// TestDeclaredConfigChecksFindProblems feeds checkDeclaredConfig files
// that break its rules, so a check that cannot fail is caught.
func TestDeclaredConfigChecksFindProblems(t *testing.T) {
	svc := service{Name: "order", GRPCPort: 50052, HTTPPort: 8082}
	keys := map[string]configKey{
		"log_level":                {Key: "log_level", Type: "string"},
		"drain_delay":              {Key: "drain_delay", Type: "time.Duration"},
		"shutdown_timeout":         {Key: "shutdown_timeout", Type: "time.Duration"},
		"discovery":                {Key: "discovery", Type: "string"},
		"grpc_addr":                {Key: "grpc_addr", Type: "string"},
		"database_url":             {Key: "database_url", Type: "string", URL: true},
		"redis_url":                {Key: "redis_url", Type: "string", URL: true},
		"nats_url":                 {Key: "nats_url", Type: "string"},
		"inventory_addr":           {Key: "inventory_addr", Type: "string"},
		"cors_allowed_origins":     {Key: "cors_allowed_origins", Type: "[]string"},
		"faults_enabled":           {Key: "faults_enabled", Type: "bool"},
		"admin_addr":               {Key: "admin_addr", Type: "string"},
		"service_account_password": {Key: "service_account_password", Type: "string", Secret: true, Env: "SERVICE_ACCOUNT_PASSWORD"},
	}
	good := "log_level: info\ndrain_delay: 5s\nshutdown_timeout: 20s\ndiscovery: static\n" +
		"nats_url: nats://nats:4222\ninventory_addr: dns:///inventory-headless:50053\n"
	require.Empty(t, checkDeclaredConfig(svc, keys, []byte(good), "dev"))
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown key", good + "nats_adr: x\n", "nats_adr: not a key of services/order's config"},
		{"secret", good + "service_account_password: hunter22\n", "service_account_password: is a secret (SERVICE_ACCOUNT_PASSWORD)"},
		{"database URL", good + "database_url: postgres://u:p@db/x\n", "database_url: carries a password"},
		{"redis URL", good + "redis_url: redis://:p@redis:6379/0\n", "redis_url: carries a password"},
		{"bad duration", strings.Replace(good, "5s", "5 seconds", 1), `drain_delay: "5 seconds" is not a time.Duration`},
		{"bad bool", good + "faults_enabled: maybe\n", `"maybe" is not a bool`},
		{"list expected", good + "cors_allowed_origins: http://a\n", "cors_allowed_origins: want a list"},
		{"wildcard origin", good + "cors_allowed_origins: ['*']\n", "wildcard origins"},
		{"loopback", strings.Replace(good, "nats://nats:4222", "nats://127.0.0.1:4222", 1), "loopback"},
		{"password in URL", strings.Replace(good, "nats://nats:4222", "nats://u:secret@nats:4222", 1), "holds a password"},
		{"required key missing", strings.Replace(good, "drain_delay: 5s\n", "", 1), "drain_delay: not declared"},
		{"wrong port", good + "grpc_addr: :9000\n", "use port 50052"},
		{"duplicate key", good + "log_level: debug\n", `key "log_level" repeated`},
		{"bad log level", strings.Replace(good, "info", "verbose", 1), "want debug, info, warn or error"},
		{"admin listener on the network", good + "admin_addr: 0.0.0.0:9090\n", "the admin listener must be loopback"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			problems := checkDeclaredConfig(svc, keys, []byte(tt.yaml), "dev")
			assert.True(t, slices.ContainsFunc(problems, func(s string) bool { return strings.Contains(s, tt.want) }),
				"want a problem containing %q, got %q", tt.want, problems)
		})
	}
}

// declaredFile reads deploy/config/<env>/<svc>.yaml.
func declaredFile(t testing.TB, env, svc string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), configDir, env, svc+".yaml"))
	require.NoError(t, err)
	return data
}

// declaredDuration is the duration key of the declared file data, or def
// when the file does not declare it.
func declaredDuration(data []byte, key string, def time.Duration) (time.Duration, error) {
	var m map[string]any
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&m); err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	v, ok := m[key]
	if !ok {
		return def, nil
	}
	d, err := time.ParseDuration(fmt.Sprint(v))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", key, err)
	}
	return d, nil
}
