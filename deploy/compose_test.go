package deploy

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	composeDir      = "deploy/compose"
	composeFile     = "docker-compose.yml"
	composeOverride = "docker-compose.override.yml"
	// dlvPort is where the debug image's dlv listens inside the container.
	dlvPort = 2345
)

// composeConfigs are the ways the compose files are used: the base file
// alone (`-f docker-compose.yml`), with the development override (what
// `docker compose` loads by default in deploy/compose), and with discovery
// through etcd.
var composeConfigs = []struct {
	name  string
	files []string
	env   map[string]string
}{
	{"base", []string{composeFile}, nil},
	{"development", []string{composeFile, composeOverride}, nil},
	{"etcd discovery", []string{composeFile}, map[string]string{"DISCOVERY": "etcd://etcd:2379"}},
}

// loadCompose loads the compose files of dir as `docker compose` does:
// merged in order, variables interpolated (from env only, so the result
// does not depend on the shell running the test), paths resolved.
func loadCompose(t testing.TB, dir string, files []string, env map[string]string) *types.Project {
	t.Helper()
	var environ []string
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = filepath.Join(dir, f)
	}
	opts, err := cli.NewProjectOptions(paths,
		cli.WithWorkingDirectory(dir),
		cli.WithEnv(environ),
		cli.WithInterpolation(true),
		cli.WithResolvedPaths(true),
	)
	require.NoError(t, err)
	p, err := opts.LoadProject(context.Background())
	require.NoError(t, err, "compose-go cannot load %v", files)
	return p
}

// slipwayName is the Slipway service a compose service runs (its SERVICE
// build argument), or "".
func slipwayName(s types.ServiceConfig) string {
	if s.Build == nil {
		return ""
	}
	if v, ok := s.Build.Args["SERVICE"]; ok && v != nil {
		return *v
	}
	return ""
}

func envValue(s types.ServiceConfig, key string) (string, bool) {
	v, ok := s.Environment[key]
	if !ok || v == nil {
		return "", ok
	}
	return *v, true
}

// checkHealthchecks: every service declares a health check in the compose
// file, so depends_on can wait for it whatever the image says.
func checkHealthchecks(p *types.Project) []string {
	var problems []string
	for _, name := range sortedNames(p.Services) {
		hc := p.Services[name].HealthCheck
		if hc == nil || hc.Disable || len(hc.Test) == 0 || hc.Test[0] == "NONE" {
			problems = append(problems, fmt.Sprintf("service %s has no healthcheck", name))
		}
	}
	return problems
}

// checkDependsOn: a dependency is only useful once it answers, so every
// depends_on waits for service_healthy, on a service that exists.
func checkDependsOn(p *types.Project) []string {
	var problems []string
	for _, name := range sortedNames(p.Services) {
		for _, dep := range sortedNames(p.Services[name].DependsOn) {
			cond := p.Services[name].DependsOn[dep].Condition
			if cond != types.ServiceConditionHealthy {
				problems = append(problems, fmt.Sprintf("service %s depends on %s with condition %q, want %q", name, dep, cond, types.ServiceConditionHealthy))
			}
			if _, ok := p.Services[dep]; !ok {
				problems = append(problems, fmt.Sprintf("service %s depends on %s, which is not in the project", name, dep))
			}
		}
	}
	return problems
}

// checkPortClashes: no two services publish the same host port (whatever
// the host address: 127.0.0.1:8081 and 0.0.0.0:8081 clash too).
func checkPortClashes(p *types.Project) []string {
	var problems []string
	owner := make(map[string]string)
	for _, name := range sortedNames(p.Services) {
		for _, port := range p.Services[name].Ports {
			published, err := publishedPorts(port.Published)
			if err != nil {
				problems = append(problems, fmt.Sprintf("service %s: %v", name, err))
				continue
			}
			proto := port.Protocol
			if proto == "" {
				proto = "tcp"
			}
			for _, n := range published {
				key := fmt.Sprintf("%d/%s", n, proto)
				if prev, ok := owner[key]; ok {
					problems = append(problems, fmt.Sprintf("host port %s is published by %s and %s", key, prev, name))
					continue
				}
				owner[key] = name
			}
		}
	}
	return problems
}

// publishedPorts expands "8081" or "8000-8010"; "" (a random port) is none.
func publishedPorts(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	lo, hi, isRange := strings.Cut(s, "-")
	a, err := strconv.Atoi(lo)
	if err != nil {
		return nil, fmt.Errorf("published port %q: %w", s, err)
	}
	b := a
	if isRange {
		if b, err = strconv.Atoi(hi); err != nil {
			return nil, fmt.Errorf("published port %q: %w", s, err)
		}
	}
	var out []int
	for n := a; n <= b; n++ {
		out = append(out, n)
	}
	return out, nil
}

// checkSlipwayEnv: every variable a Slipway service receives is one its
// config reads (or a standard OpenTelemetry or Go runtime variable), so a
// misspelt or stale key fails here instead of being silently ignored.
func checkSlipwayEnv(p *types.Project, services map[string]service) []string {
	var problems []string
	for _, name := range sortedNames(p.Services) {
		s := p.Services[name]
		svc := slipwayName(s)
		if svc == "" {
			continue
		}
		def, ok := services[svc]
		if !ok {
			problems = append(problems, fmt.Sprintf("service %s builds SERVICE=%s, which is not a directory under services/", name, svc))
			continue
		}
		for _, key := range sortedNames(s.Environment) {
			if !def.allows(key) {
				problems = append(problems, fmt.Sprintf("service %s gets %s, which services/%s's config does not read", name, key, svc))
			}
		}
	}
	return problems
}

// checkURLHosts: every URL a Slipway service is given (database, broker,
// JWKS, OTLP) points at a service of the project, or at the host.
func checkURLHosts(p *types.Project) []string {
	var problems []string
	for _, name := range sortedNames(p.Services) {
		s := p.Services[name]
		if slipwayName(s) == "" {
			continue
		}
		for _, key := range sortedNames(s.Environment) {
			if key == "CORS_ALLOWED_ORIGINS" { // browser origins, not addresses the service dials
				continue
			}
			v, _ := envValue(s, key)
			u, err := url.Parse(v)
			if err != nil || u.Scheme == "" || u.Host == "" {
				continue
			}
			host := u.Hostname()
			if _, ok := p.Services[host]; !ok && host != "host.docker.internal" {
				problems = append(problems, fmt.Sprintf("service %s: %s=%s points at %q, not a service of the project", name, key, u.Redacted(), host))
			}
		}
	}
	return problems
}

// checkServiceAccounts: a service that logs in with a service account
// (SERVICE_ACCOUNT_PASSWORD, as SERVICE_ACCOUNT_NAME or its own name) finds
// that account among the user service's SERVICE_ACCOUNTS, with the same
// password; otherwise its calls to peers fail at run time. env is the
// environment of each Slipway service, by service name.
func checkServiceAccounts(env map[string]map[string]string) []string {
	var problems []string
	accounts := make(map[string]string)
	for _, entry := range strings.Split(env["user"]["SERVICE_ACCOUNTS"], ",") {
		if name, password, ok := strings.Cut(strings.TrimSpace(entry), ":"); ok {
			accounts[name] = password
		}
	}
	for _, svc := range sortedNames(env) {
		password, ok := env[svc]["SERVICE_ACCOUNT_PASSWORD"]
		if !ok {
			continue
		}
		name := env[svc]["SERVICE_ACCOUNT_NAME"]
		if name == "" {
			name = svc
		}
		switch got, ok := accounts[name]; {
		case !ok:
			problems = append(problems, fmt.Sprintf("%s logs in as service account %q, which the user service's SERVICE_ACCOUNTS does not create", svc, name))
		case got != password:
			problems = append(problems, fmt.Sprintf("%s's SERVICE_ACCOUNT_PASSWORD differs from the password SERVICE_ACCOUNTS gives %q", svc, name))
		}
	}
	return problems
}

// slipwayEnv is the environment of each Slipway service of p, by service name.
func slipwayEnv(p *types.Project) map[string]map[string]string {
	out := make(map[string]map[string]string)
	for _, s := range p.Services {
		if svc := slipwayName(s); svc != "" {
			out[svc] = make(map[string]string)
			for k := range s.Environment {
				out[svc][k], _ = envValue(s, k)
			}
		}
	}
	return out
}

func TestCompose(t *testing.T) {
	root := repoRoot(t)
	dir := filepath.Join(root, composeDir)
	services := slipwayServices(t)

	for _, cfg := range composeConfigs {
		t.Run(cfg.name, func(t *testing.T) {
			p := loadCompose(t, dir, cfg.files, cfg.env)

			checks := []struct {
				name  string
				check func() []string
			}{
				{"every service has a healthcheck", func() []string { return checkHealthchecks(p) }},
				{"depends_on waits for health", func() []string { return checkDependsOn(p) }},
				{"published host ports do not clash", func() []string { return checkPortClashes(p) }},
				{"every variable is read by the service's config", func() []string { return checkSlipwayEnv(p, services) }},
				{"URLs point at services of the project", func() []string { return checkURLHosts(p) }},
				{"service accounts match the user service's", func() []string { return checkServiceAccounts(slipwayEnv(p)) }},
			}
			for _, c := range checks {
				t.Run(c.name, func(t *testing.T) {
					assert.Empty(t, c.check())
				})
			}

			t.Run("every Slipway service runs, built from deploy/docker/Dockerfile", func(t *testing.T) {
				var running []string
				for _, s := range p.Services {
					if svc := slipwayName(s); svc != "" {
						running = append(running, svc)
						assert.Equal(t, root, s.Build.Context, "%s: build context", s.Name)
						assert.Equal(t, "deploy/docker/Dockerfile", filepath.ToSlash(s.Build.Dockerfile), "%s: dockerfile", s.Name)
						assert.FileExists(t, filepath.Join(s.Build.Context, s.Build.Dockerfile))
					}
				}
				assert.ElementsMatch(t, sortedNames(services), running)
			})

			for _, name := range sortedNames(p.Services) {
				s := p.Services[name]
				svc, ok := services[slipwayName(s)]
				if !ok {
					continue
				}
				t.Run(name, func(t *testing.T) {
					grpc := svc.GRPCPort
					if v, ok := envValue(s, "GRPC_ADDR"); ok {
						_, port, err := net.SplitHostPort(v)
						require.NoError(t, err, "GRPC_ADDR")
						grpc, _ = strconv.Atoi(port)
					}
					require.NotNil(t, s.HealthCheck, "no healthcheck")
					assert.Equal(t, types.HealthCheckTest{"CMD", "/usr/local/bin/slipway", "probe", "--addr", fmt.Sprintf("127.0.0.1:%d", grpc)},
						s.HealthCheck.Test, "the healthcheck probes the service's gRPC port with slipway probe")
					var targets []uint32
					for _, port := range s.Ports {
						targets = append(targets, port.Target)
					}
					assert.Contains(t, targets, uint32(grpc), "gRPC port published")
					assert.Contains(t, targets, uint32(svc.HTTPPort), "HTTP port published")
					drain, shutdown := platformShutdownDefaults(t)
					for key, d := range map[string]*time.Duration{"DRAIN_DELAY": &drain, "SHUTDOWN_TIMEOUT": &shutdown} {
						if v, ok := envValue(s, key); ok {
							parsed, err := time.ParseDuration(v)
							require.NoError(t, err, key)
							*d = parsed
						}
					}
					if assert.NotNil(t, s.StopGracePeriod, "stop_grace_period: the default 10s cuts the graceful shutdown short") {
						assert.Greater(t, time.Duration(*s.StopGracePeriod), drain+shutdown,
							"stop_grace_period must exceed DRAIN_DELAY (%s) + SHUTDOWN_TIMEOUT (%s), or compose kills the service mid-shutdown", drain, shutdown)
					}
				})
			}

			t.Run("peer and advertised addresses name a service and its gRPC port", func(t *testing.T) {
				for _, name := range sortedNames(p.Services) {
					s := p.Services[name]
					self, ok := services[slipwayName(s)]
					if !ok {
						continue
					}
					if v, ok := envValue(s, "ADVERTISE_ADDR"); ok {
						assert.Equal(t, fmt.Sprintf("%s:%d", name, self.GRPCPort), v, "%s: ADVERTISE_ADDR is what peers dial through etcd", name)
					}
					for _, key := range sortedNames(s.Environment) {
						peer, ok := strings.CutSuffix(key, "_ADDR")
						peerSvc, isPeer := services[strings.ToLower(peer)]
						if !ok || !isPeer {
							continue
						}
						v, _ := envValue(s, key)
						assert.Equal(t, fmt.Sprintf("%s:%d", peerSvc.Name, peerSvc.GRPCPort), v, "%s: %s", name, key)
					}
				}
			})

			t.Run("each service has its own database, created by the init script", func(t *testing.T) {
				created := initDatabases(t, p)
				seen := make(map[string]string)
				for _, name := range sortedNames(p.Services) {
					s := p.Services[name]
					if slipwayName(s) == "" {
						continue
					}
					v, ok := envValue(s, "DATABASE_URL")
					if !assert.True(t, ok, "%s: no DATABASE_URL", name) {
						continue
					}
					u, err := url.Parse(v)
					require.NoError(t, err)
					assert.Equal(t, "postgres", u.Scheme, "%s: DATABASE_URL", name)
					db := strings.TrimPrefix(u.Path, "/")
					assert.Contains(t, created, db, "%s: database %s is not created by the init script", name, db)
					if prev, dup := seen[db]; dup {
						t.Errorf("services %s and %s share database %s", prev, name, db)
					}
					seen[db] = name
				}
			})
		})
	}
}

// initDatabases returns the databases the postgres service's init scripts
// (SQL files mounted at /docker-entrypoint-initdb.d) create.
func initDatabases(t *testing.T, p *types.Project) []string {
	t.Helper()
	pg, ok := p.Services["postgres"]
	require.True(t, ok, "no postgres service")
	createDB := regexp.MustCompile(`(?i)CREATE\s+DATABASE\s+"?([a-z0-9_]+)"?`)
	var dbs []string
	for _, v := range pg.Volumes {
		if v.Type != types.VolumeTypeBind || !strings.HasPrefix(v.Target, "/docker-entrypoint-initdb.d") {
			continue
		}
		files, err := filepath.Glob(filepath.Join(v.Source, "*.sql"))
		require.NoError(t, err)
		if st, err := os.Stat(v.Source); err == nil && !st.IsDir() {
			files = []string{v.Source}
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			require.NoError(t, err)
			for _, m := range createDB.FindAllStringSubmatch(string(data), -1) {
				dbs = append(dbs, m[1])
			}
		}
	}
	require.NotEmpty(t, dbs, "the postgres init scripts create no database")
	return dbs
}

func TestComposeBindMountsExist(t *testing.T) {
	root := repoRoot(t)
	for _, cfg := range composeConfigs {
		t.Run(cfg.name, func(t *testing.T) {
			p := loadCompose(t, filepath.Join(root, composeDir), cfg.files, cfg.env)
			for _, name := range sortedNames(p.Services) {
				for _, v := range p.Services[name].Volumes {
					if v.Type == types.VolumeTypeBind {
						_, err := os.Stat(v.Source)
						assert.NoError(t, err, "service %s mounts %s", name, v.Source)
					}
				}
			}
		})
	}
}

func TestComposeImagesArePinned(t *testing.T) {
	p := loadCompose(t, filepath.Join(repoRoot(t), composeDir), []string{composeFile}, nil)
	for _, name := range sortedNames(p.Services) {
		s := p.Services[name]
		if s.Build != nil {
			continue
		}
		ref := s.Image
		tag := ref[strings.LastIndex(ref, "/")+1:]
		_, version, ok := strings.Cut(tag, ":")
		assert.True(t, ok && version != "" && version != "latest", "service %s: image %q needs a version tag", name, ref)
	}
}

func TestComposeDevelopment(t *testing.T) {
	root := repoRoot(t)
	dir := filepath.Join(root, composeDir)
	services := slipwayServices(t)
	p := loadCompose(t, dir, []string{composeFile, composeOverride}, nil)

	t.Run("Slipway services run their debug image with dlv published", func(t *testing.T) {
		dlvHostPorts := make(map[string]string)
		for _, name := range sortedNames(p.Services) {
			s := p.Services[name]
			if slipwayName(s) == "" {
				continue
			}
			assert.Equal(t, "debug", s.Build.Target, "%s: build target", name)
			assert.Contains(t, s.ExtraHosts["host.docker.internal"], "host-gateway", "%s: extra_hosts", name)
			assert.Contains(t, s.CapAdd, "SYS_PTRACE", "%s: dlv needs ptrace", name)
			var published string
			for _, port := range s.Ports {
				if port.Target == dlvPort {
					published = port.Published
				}
			}
			if assert.NotEmpty(t, published, "%s: dlv port %d is not published", name, dlvPort) {
				assert.NotContains(t, dlvHostPorts, published, "%s: dlv host port %s already used by %s", name, published, dlvHostPorts[published])
				assert.NotEqual(t, strconv.Itoa(dlvPort), published, "%s: host port %d is slipway debug's", name, dlvPort)
				dlvHostPorts[published] = name
			}
		}
		assert.Len(t, dlvHostPorts, len(services))
	})

	t.Run("gRPC targets follow the environment", func(t *testing.T) {
		env := make(map[string]string)
		for _, svc := range services {
			env[strings.ToUpper(svc.Name)+"_ADDR"] = fmt.Sprintf("host.docker.internal:%d", svc.GRPCPort)
		}
		overridden := loadCompose(t, dir, []string{composeFile, composeOverride}, env)
		var peers int
		for _, name := range sortedNames(overridden.Services) {
			s := overridden.Services[name]
			for key, want := range env {
				if _, ok := s.Environment[key]; ok {
					got, _ := envValue(s, key)
					assert.Equal(t, want, got, "%s: %s", name, key)
					peers++
				}
			}
		}
		assert.NotZero(t, peers, "no service takes a peer address (*_ADDR) from the environment")
	})
}

// TestComposeChecksFindProblems feeds each compose check a project that
// breaks its rule, so a check that cannot fail is caught.
func TestComposeChecksFindProblems(t *testing.T) {
	services := map[string]service{"order": {Name: "order", GRPCPort: 50052, HTTPPort: 8082, Env: map[string]bool{"NATS_URL": true}}}
	tests := []struct {
		name  string
		yaml  string
		check func(*types.Project) []string
		want  string
	}{
		{
			name: "missing healthcheck",
			yaml: `services:
  a: {image: busybox:1}
`,
			check: checkHealthchecks,
			want:  "service a has no healthcheck",
		},
		{
			name: "depends_on without health",
			yaml: `services:
  a: {image: busybox:1, depends_on: [b]}
  b: {image: busybox:1}
`,
			check: checkDependsOn,
			want:  `service a depends on b with condition "service_started"`,
		},
		{
			name: "port clash across host addresses",
			yaml: `services:
  a: {image: busybox:1, ports: ["127.0.0.1:8081:80"]}
  b: {image: busybox:1, ports: ["8080-8082:80"]}
`,
			check: checkPortClashes,
			want:  "host port 8081/tcp is published by a and b",
		},
		{
			name: "variable the config does not read",
			yaml: `services:
  order:
    build: {context: ., args: {SERVICE: order}}
    environment: {NATS_URL: "nats://nats:4222", NATS_ADDR: "x", OTEL_SERVICE_NAME: order}
`,
			check: func(p *types.Project) []string { return checkSlipwayEnv(p, services) },
			want:  "service order gets NATS_ADDR, which services/order's config does not read",
		},
		{
			name: "service account password differs",
			yaml: `services:
  user:
    build: {context: ., args: {SERVICE: user}}
    environment: {SERVICE_ACCOUNTS: "order:first-secret"}
  order:
    build: {context: ., args: {SERVICE: order}}
    environment: {SERVICE_ACCOUNT_PASSWORD: other-secret}
`,
			check: func(p *types.Project) []string { return checkServiceAccounts(slipwayEnv(p)) },
			want:  `order's SERVICE_ACCOUNT_PASSWORD differs from the password SERVICE_ACCOUNTS gives "order"`,
		},
		{
			name: "URL to a host outside the project",
			yaml: `services:
  order:
    build: {context: ., args: {SERVICE: order}}
    environment: {NATS_URL: "nats://broker:4222"}
`,
			check: checkURLHosts,
			want:  `NATS_URL=nats://broker:4222 points at "broker"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "compose.yml"), []byte(tt.yaml), 0o600))
			p := loadCompose(t, dir, []string{"compose.yml"}, nil)
			problems := tt.check(p)
			assert.True(t, slices.ContainsFunc(problems, func(s string) bool { return strings.Contains(s, tt.want) }),
				"want a problem containing %q, got %q", tt.want, problems)
		})
	}
}

// redisUsers are the Slipway services that keep state in Redis: user (the
// account cache) and order (per-user rate limits).
var redisUsers = []string{"order", "user"}

// TestComposeRedis: the services that use Redis are given a REDIS_URL that
// config.Base accepts and that reaches the project's redis service on its
// port, wait for it to be healthy, and Redis keeps nothing on disk (it
// holds caches and rate limits, never data).
func TestComposeRedis(t *testing.T) {
	root := repoRoot(t)
	for _, cfg := range composeConfigs {
		t.Run(cfg.name, func(t *testing.T) {
			p := loadCompose(t, filepath.Join(root, composeDir), cfg.files, cfg.env)
			redis, ok := p.Services["redis"]
			require.True(t, ok, "no redis service")
			require.NotNil(t, redis.HealthCheck)
			assert.Equal(t, types.HealthCheckTest{"CMD", "redis-cli", "ping"}, redis.HealthCheck.Test)
			assert.Contains(t, strings.Join(redis.Command, " "), "--appendonly no", "no persistence")
			var redisPorts []uint32
			for _, port := range redis.Ports {
				redisPorts = append(redisPorts, port.Target)
			}

			var users []string
			for _, name := range sortedNames(p.Services) {
				s := p.Services[name]
				v, ok := envValue(s, "REDIS_URL")
				if slipwayName(s) == "" || !ok {
					continue
				}
				users = append(users, slipwayName(s))
				u, err := url.Parse(v)
				require.NoError(t, err, "%s: REDIS_URL", name)
				assert.Equal(t, "redis", u.Scheme, "%s: REDIS_URL", name)
				assert.Equal(t, "redis", u.Hostname(), "%s: REDIS_URL names the redis service", name)
				port, err := strconv.Atoi(u.Port())
				require.NoError(t, err, "%s: REDIS_URL has a port", name)
				assert.Contains(t, redisPorts, uint32(port), "%s: REDIS_URL's port is one redis listens on", name)
				dep, ok := s.DependsOn["redis"]
				if assert.True(t, ok, "%s depends on redis", name) {
					assert.Equal(t, types.ServiceConditionHealthy, dep.Condition)
				}
			}
			assert.Equal(t, redisUsers, users)
		})
	}

	t.Run("REDIS_URL follows the environment", func(t *testing.T) {
		p := loadCompose(t, filepath.Join(root, composeDir), []string{composeFile},
			map[string]string{"REDIS_URL": "redis://host.docker.internal:16379/0"})
		for _, name := range redisUsers {
			got, _ := envValue(p.Services[name], "REDIS_URL")
			assert.Equal(t, "redis://host.docker.internal:16379/0", got, "%s: a chaos run can put a proxy in front of Redis", name)
		}
	})
}
