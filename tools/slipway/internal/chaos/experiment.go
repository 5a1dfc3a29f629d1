package chaos

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// Bounds that keep an experiment finite and its traffic modest.
const (
	maxRate     = 500
	maxUsers    = 200
	maxSettle   = 10 * time.Minute
	defaultRate = 20
)

// experiment is one deploy/chaos/<name>.yaml, parsed and validated.
type experiment struct {
	Name string `yaml:"-"` // the file name without .yaml
	File string `yaml:"-"` // as given on the command line
	skip string // why it is not run here (a dependency is not configured); "" runs it

	Description string                       `yaml:"description"`
	Load        loadSpec                     `yaml:"load"`
	Faults      []fault                      `yaml:"faults"`
	Analysis    analysis                     `yaml:"analysis"`
	Env         map[string]map[string]string `yaml:"env"`
	// Replicas runs a service as several instances (missing: one), as
	// production runs it behind a PodDisruptionBudget: clients balance
	// over them, and a process fault on the service hits its first.
	Replicas map[string]int `yaml:"replicas"`
	// Settle bounds the wait, after the load, for the outbox and the
	// consumers to catch up before the invariants are checked.
	Settle duration `yaml:"settle"`
}

// loadSpec is the create-order load the experiment runs under.
type loadSpec struct {
	Rate        float64  `yaml:"rate"`
	Duration    duration `yaml:"duration"`
	Users       int      `yaml:"users"`
	Timeout     duration `yaml:"timeout"`
	MaxInflight int      `yaml:"max_inflight"`
	// UserLookups reads the user (GetMe) before each CreateOrder, as a
	// storefront does; a failed lookup fails the request. It is what puts
	// the user service's cache (Redis) on the request path.
	UserLookups bool `yaml:"user_lookups"`
	// RetryEvery sends every RetryEvery-th order a second time with the
	// same idempotency key once it was answered, as a client retrying after
	// a lost answer does; both must answer the same order. 0 turns it off;
	// unset is defaultRetryEvery.
	RetryEvery *int `yaml:"retry_every"`
}

// defaultRetryEvery: one order in ten is retried with its key.
const defaultRetryEvery = 10

// fault is one fault of the timeline: exactly one kind, switched on at
// At (from the start of the load) and off For later.
type fault struct {
	At  duration `yaml:"at"`
	For duration `yaml:"for"`

	GRPC          *grpcFault     `yaml:"grpc"`
	Network       *networkFault  `yaml:"network"`
	ConsumerReset *consumerReset `yaml:"consumer_reset"`
	Process       *processFault  `yaml:"process"`
	// PostgresRestart restarts the local PostgreSQL server (postgres.go).
	PostgresRestart *postgresRestart `yaml:"postgres_restart"`
	// RollingRestart restarts every instance of a service in turn (rolling.go).
	RollingRestart *rollingRestart `yaml:"rolling_restart"`
}

// grpcFault is injected by the service itself through PUT /admin/faults.
type grpcFault struct {
	Service string   `yaml:"service"`
	Method  string   `yaml:"method"` // "" is every method of the service
	Code    string   `yaml:"code"`   // UNAVAILABLE ...; "" with a delay only
	Rate    float64  `yaml:"rate"`
	Delay   duration `yaml:"delay"`
}

// networkFault is applied by the proxy in front of a dependency.
type networkFault struct {
	Dependency string   `yaml:"dependency"` // postgres, nats or redis
	Partition  string   `yaml:"partition"`  // blackhole or reset
	Latency    duration `yaml:"latency"`
	Bandwidth  byteSize `yaml:"bandwidth"` // bytes per second
}

// consumerReset deletes a durable consumer, so the service recreates it
// and JetStream delivers the whole stream again.
type consumerReset struct {
	Stream   string `yaml:"stream"`
	Consumer string `yaml:"consumer"`
}

// processFault signals a service and starts it again For later.
type processFault struct {
	Service string `yaml:"service"`
	Signal  string `yaml:"signal"` // SIGKILL or SIGTERM
}

// analysis overrides the gate's thresholds; unset ones come from
// deploy/slo.yaml.
type analysis struct {
	SuccessRate *float64  `yaml:"success_rate"`
	P99         *duration `yaml:"p99"`
	FaultP99    *duration `yaml:"fault_window_p99"`
	// P99OverOutage gates p99 at the outage of PostgreSQL that a
	// postgres_restart fault caused, as measured (outage.go), plus this:
	// what a request may wait beyond the database's own absence. A
	// request cannot be answered while the database is away; the gate is
	// on how soon after it is back, not on how fast the machine restarts it.
	P99OverOutage *duration `yaml:"p99_over_outage"`
	// FaultSuccessRate gates the requests due in the fault window; unset,
	// it is the success rate's threshold.
	FaultSuccessRate *float64 `yaml:"fault_window_success_rate"`
	// PlacedRate gates the share of acknowledged orders that ended PLACED
	// once the sagas settled; unset, it is the success rate's threshold.
	PlacedRate *float64 `yaml:"placed_rate"`
	// ServiceSuccessRate gates a gated service's own RPCs (gatedServices,
	// from its /metrics); unset, the SLO's success rate.
	ServiceSuccessRate map[string]float64 `yaml:"service_success_rate"`
	// Reason must explain a success rate or p99 looser than the SLO's.
	Reason string `yaml:"reason"`
}

// Kind names the fault's kind.
func (f fault) Kind() string {
	switch {
	case f.GRPC != nil:
		return "grpc"
	case f.Network != nil:
		return "network"
	case f.ConsumerReset != nil:
		return "consumer_reset"
	case f.Process != nil:
		return "process"
	case f.PostgresRestart != nil:
		return "postgres_restart"
	case f.RollingRestart != nil:
		return "rolling_restart"
	}
	return ""
}

// Describe says what the fault does, in a few words.
func (f fault) Describe() string {
	switch {
	case f.GRPC != nil:
		g := f.GRPC
		var parts []string
		if g.Code != "" {
			parts = append(parts, fmt.Sprintf("%s at %g%%", g.Code, 100*g.Rate))
		}
		if g.Delay > 0 {
			parts = append(parts, "+"+g.Delay.String()+" delay")
		}
		return fmt.Sprintf("%s gRPC %s on %s", g.Service, strings.Join(parts, ", "), g.Method)
	case f.Network != nil:
		n := f.Network
		var parts []string
		if n.Partition != "" {
			parts = append(parts, n.Partition+" partition")
		}
		if n.Latency > 0 {
			parts = append(parts, "+"+n.Latency.String()+" latency")
		}
		if n.Bandwidth > 0 {
			parts = append(parts, n.Bandwidth.String()+"/s bandwidth")
		}
		return n.Dependency + " network: " + strings.Join(parts, ", ")
	case f.ConsumerReset != nil:
		return fmt.Sprintf("reset consumer %s on stream %s (redeliver from the start)", f.ConsumerReset.Consumer, f.ConsumerReset.Stream)
	case f.Process != nil:
		return fmt.Sprintf("%s %s, restarted %s later", f.Process.Signal, f.Process.Service, f.For)
	case f.PostgresRestart != nil:
		if f.For > 0 {
			return fmt.Sprintf("PostgreSQL stopped (-m %s), started %s later", f.PostgresRestart.Mode, f.For)
		}
		return fmt.Sprintf("PostgreSQL restarted (-m %s)", f.PostgresRestart.Mode)
	case f.RollingRestart != nil:
		return fmt.Sprintf("rolling restart of %s, one instance at a time (SIGTERM, started again, SERVING, then min_ready %s before the next)",
			f.RollingRestart.Service, f.RollingRestart.MinReady)
	}
	return "nothing"
}

// when says when f is on, from the start of the load: for its for, or as
// long as what it does takes.
func (e *experiment) when(f fault) string {
	switch {
	case f.For > 0:
		return fmt.Sprintf("at %s for %s", f.At, f.For)
	case f.RollingRestart != nil:
		return fmt.Sprintf("at %s until each of its %d instances has restarted", f.At, max(e.Replicas[f.RollingRestart.Service], 1))
	case f.PostgresRestart != nil:
		return fmt.Sprintf("at %s until the server is back", f.At)
	}
	return fmt.Sprintf("at %s instantaneous", f.At)
}

// duration is a Go duration written as a string ("90s").
type duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *duration) UnmarshalYAML(node *yaml.Node) error {
	v, err := time.ParseDuration(node.Value)
	if node.Kind != yaml.ScalarNode || err != nil {
		return fmt.Errorf("line %d: %q is not a duration such as 250ms or 90s", node.Line, node.Value)
	}
	if v < 0 {
		return fmt.Errorf("line %d: duration %s is negative", node.Line, node.Value)
	}
	*d = duration(v)
	return nil
}

// D is the duration.
func (d duration) D() time.Duration { return time.Duration(d) }

func (d duration) String() string { return time.Duration(d).String() }

// byteSize is a size in bytes, written as 65536, 64KiB or 1MiB.
type byteSize int64

var bytesRE = regexp.MustCompile(`^([0-9]+)\s*(B|KiB|MiB|GiB)?$`)

// UnmarshalYAML implements yaml.Unmarshaler.
func (b *byteSize) UnmarshalYAML(node *yaml.Node) error {
	m := bytesRE.FindStringSubmatch(strings.TrimSpace(node.Value))
	if node.Kind != yaml.ScalarNode || m == nil {
		return fmt.Errorf("line %d: %q is not a size such as 65536, 64KiB or 1MiB", node.Line, node.Value)
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return fmt.Errorf("line %d: %q: %w", node.Line, node.Value, err)
	}
	n *= map[string]int64{"": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}[m[2]]
	*b = byteSize(n)
	return nil
}

func (b byteSize) String() string {
	switch {
	case b >= 1<<20 && b%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", b>>20)
	case b >= 1<<10 && b%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", b>>10)
	}
	return fmt.Sprintf("%dB", int64(b))
}

// serviceAPI is the gRPC service each of ours serves (by the workspace's
// registry), for the default method prefix of a gRPC fault.
var serviceAPI = func() map[string]string {
	m := make(map[string]string, len(workspace.Known))
	for _, s := range workspace.Known {
		m[s.Name] = workspace.GRPCService(s.Name)
	}
	return m
}()

// Dependencies a network fault can reach through a proxy.
const (
	depPostgres = "postgres"
	depNATS     = "nats"
	depRedis    = "redis"
)

// loadExperiment reads and validates one experiment file strictly:
// an unknown key is an error, and every error names the file and the field.
func loadExperiment(path string) (*experiment, error) {
	raw, err := os.ReadFile(path) //nolint:gosec // G304: the experiment the user named
	if err != nil {
		return nil, err
	}
	exp, err := parseExperiment(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	exp.File = path
	exp.Name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	return exp, nil
}

var yamlUnknownField = regexp.MustCompile(`field (\S+) not found in type \S+`)

// parseExperiment decodes and validates an experiment.
func parseExperiment(raw []byte) (*experiment, error) {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	var exp experiment
	if err := dec.Decode(&exp); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty file: an experiment needs load and faults")
		}
		msg := strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n  ")
		msg = yamlUnknownField.ReplaceAllString(msg, `unknown field "$1"`)
		return nil, errors.New(strings.TrimPrefix(msg, "yaml: "))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document: one experiment per file")
	}
	exp.withDefaults()
	if err := exp.validate(); err != nil {
		return nil, err
	}
	return &exp, nil
}

func (e *experiment) withDefaults() {
	if e.Load.Rate == 0 {
		e.Load.Rate = defaultRate
	}
	if e.Load.Users == 0 {
		e.Load.Users = 10
	}
	if e.Load.Timeout == 0 {
		e.Load.Timeout = duration(5 * time.Second)
	}
	if e.Load.MaxInflight == 0 {
		e.Load.MaxInflight = 256
	}
	if e.Load.RetryEvery == nil {
		n := defaultRetryEvery
		e.Load.RetryEvery = &n
	}
	if e.Settle == 0 {
		e.Settle = duration(60 * time.Second)
	}
	for i := range e.Faults {
		f := &e.Faults[i]
		if g := f.GRPC; g != nil && g.Method == "" {
			if api, ok := serviceAPI[g.Service]; ok {
				g.Method = "/" + api + "/"
			}
		}
		if p := f.PostgresRestart; p != nil && p.Mode == "" {
			p.Mode = "fast"
		}
		if c := f.ConsumerReset; c != nil {
			if c.Stream == "" {
				c.Stream = "ORDERS"
			}
			if c.Consumer == "" {
				c.Consumer = "notification"
			}
		}
	}
}

var envName = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)

// scaled returns a copy with every duration of the timeline (load duration,
// fault at and for) multiplied by s, so that a test
// runs an experiment in seconds. Magnitudes (latency, delay, rate) stay.
func (e *experiment) scaled(s float64) *experiment {
	c := *e
	if s == 1 {
		return &c
	}
	mul := func(d duration) duration { return duration(float64(d) * s) }
	c.Load.Duration = mul(c.Load.Duration)
	c.Faults = slices.Clone(e.Faults)
	for i := range c.Faults {
		c.Faults[i].At = mul(c.Faults[i].At)
		c.Faults[i].For = mul(c.Faults[i].For)
	}
	return &c
}

// needs reports which dependencies the experiment's faults reach: its
// network faults, and PostgreSQL for a restart.
func (e *experiment) needs(dep string) bool {
	return slices.ContainsFunc(e.Faults, func(f fault) bool {
		return (f.Network != nil && f.Network.Dependency == dep) || (f.PostgresRestart != nil && dep == depPostgres)
	})
}
