package deploy

import (
	"encoding/base64"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The compose profile that runs Apache Kafka, its broker and its one-shot
// topic creator.
const (
	kafkaProfile = "kafka"
	kafkaBroker  = "kafka"
	kafkaInit    = "kafka-init"
	// kafkaTools is where the apache/kafka image keeps its scripts.
	kafkaTools = "/opt/kafka/bin/"
)

// kafkaListener is one entry of KAFKA_LISTENERS or KAFKA_ADVERTISED_LISTENERS.
type kafkaListener struct {
	host string
	port uint32
}

// parseKafkaListeners reads "NAME://host:port,..." by listener name.
func parseKafkaListeners(s string) (map[string]kafkaListener, error) {
	out := map[string]kafkaListener{}
	for _, entry := range strings.Split(s, ",") {
		name, addr, ok := strings.Cut(strings.TrimSpace(entry), "://")
		if !ok {
			return nil, fmt.Errorf("listener %q: want NAME://host:port", entry)
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("listener %q: %w", entry, err)
		}
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("listener %q: port: %w", entry, err)
		}
		out[name] = kafkaListener{host: host, port: uint32(n)}
	}
	return out, nil
}

// kafkaTopicCreate is one `kafka-topics.sh --create` line of kafka-init.
type kafkaTopicCreate struct {
	bootstrap, topic          string
	partitions, replication   int
	ifNotExists, hasRetention bool
}

// parseKafkaInit reads the topics kafka-init's script creates. The script
// is plain lines of kafka-topics.sh calls; a line with shell syntax the
// parser cannot follow (quotes, variables, loops) is an error, not skipped.
func parseKafkaInit(script string) ([]kafkaTopicCreate, error) {
	var out []kafkaTopicCreate
	for _, line := range strings.Split(script, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if strings.ContainsAny(line, `"'$;&|`+"`") {
			return nil, fmt.Errorf("line %q: shell syntax the test cannot follow", line)
		}
		f := strings.Fields(line)
		if f[0] != kafkaTools+"kafka-topics.sh" {
			return nil, fmt.Errorf("line %q: only %skafka-topics.sh calls are expected", line, kafkaTools)
		}
		if !slices.Contains(f, "--create") {
			continue
		}
		c := kafkaTopicCreate{}
		for i := 1; i < len(f); i++ {
			arg := f[i]
			next := func() string {
				if i+1 < len(f) {
					i++
					return f[i]
				}
				return ""
			}
			var err error
			switch arg {
			case "--create":
			case "--if-not-exists":
				c.ifNotExists = true
			case "--bootstrap-server":
				c.bootstrap = next()
			case "--topic":
				c.topic = next()
			case "--partitions":
				c.partitions, err = strconv.Atoi(next())
			case "--replication-factor":
				c.replication, err = strconv.Atoi(next())
			case "--config":
				key, _, _ := strings.Cut(next(), "=")
				c.hasRetention = c.hasRetention || key == "retention.ms"
			default:
				err = fmt.Errorf("unexpected argument %s", arg)
			}
			if err != nil {
				return nil, fmt.Errorf("line %q: %w", line, err)
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// checkComposeKafka: the kafka profile runs one KRaft node that is
// controller and broker, reachable from the host on 127.0.0.1 only at the
// address it advertises there, healthy only when the broker answers, and
// a kafka-init that waits for that health and creates exactly the topics
// of deploy/k8s/kafka (partitions by name) with the replication one broker
// can hold.
func checkComposeKafka(p *types.Project, partitions map[string]int) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	broker, ok := p.Services[kafkaBroker]
	if !ok {
		return []string{"no kafka service"}
	}
	initSvc, ok := p.Services[kafkaInit]
	if !ok {
		return []string{"no kafka-init service"}
	}
	for _, s := range []types.ServiceConfig{broker, initSvc} {
		if !slices.Equal(s.Profiles, []string{kafkaProfile}) {
			bad("%s: profiles %v, want [%s]: the services use NATS by default", s.Name, s.Profiles, kafkaProfile)
		}
		repo, tag, _ := strings.Cut(s.Image, ":")
		if repo != "apache/kafka" || tag == "" || tag == "latest" {
			bad("%s: image %q, want apache/kafka with a version tag", s.Name, s.Image)
		}
	}
	if initSvc.Image != broker.Image {
		bad("kafka-init runs %s, the broker %s: the tools should match the broker", initSvc.Image, broker.Image)
	}

	env := func(key string) string { v, _ := envValue(broker, key); return v }
	roles := strings.Split(env("KAFKA_PROCESS_ROLES"), ",")
	if !slices.Contains(roles, "broker") || !slices.Contains(roles, "controller") {
		bad("kafka: KAFKA_PROCESS_ROLES is %q, want broker,controller (KRaft, one node)", env("KAFKA_PROCESS_ROLES"))
	}
	if id, err := base64.RawURLEncoding.DecodeString(env("CLUSTER_ID")); err != nil || len(id) != 16 {
		bad("kafka: CLUSTER_ID %q is not a base64 UUID", env("CLUSTER_ID"))
	}
	if env("KAFKA_AUTO_CREATE_TOPICS_ENABLE") != "false" {
		bad("kafka: KAFKA_AUTO_CREATE_TOPICS_ENABLE is %q, want false: kafka-init creates the topics", env("KAFKA_AUTO_CREATE_TOPICS_ENABLE"))
	}
	listeners, err := parseKafkaListeners(env("KAFKA_LISTENERS"))
	if err != nil {
		bad("kafka: KAFKA_LISTENERS: %v", err)
	}
	advertised, err := parseKafkaListeners(env("KAFKA_ADVERTISED_LISTENERS"))
	if err != nil {
		bad("kafka: KAFKA_ADVERTISED_LISTENERS: %v", err)
	}
	controller := listeners[env("KAFKA_CONTROLLER_LISTENER_NAMES")]
	if want := fmt.Sprintf("%s@%s:%d", env("KAFKA_NODE_ID"), kafkaBroker, controller.port); env("KAFKA_CONTROLLER_QUORUM_VOTERS") != want {
		bad("kafka: KAFKA_CONTROLLER_QUORUM_VOTERS is %q, want %q (this node's controller listener)", env("KAFKA_CONTROLLER_QUORUM_VOTERS"), want)
	}
	internal, ok := advertised[env("KAFKA_INTER_BROKER_LISTENER_NAME")]
	if !ok || internal.host != kafkaBroker {
		bad("kafka: the inter-broker listener %q is not advertised as %s:<port> for the project's containers", env("KAFKA_INTER_BROKER_LISTENER_NAME"), kafkaBroker)
	}
	for _, port := range broker.Ports {
		if port.HostIP != "127.0.0.1" {
			bad("kafka: port %d is published on %q, want 127.0.0.1 only", port.Target, port.HostIP)
		}
		if port.Target == controller.port {
			bad("kafka: the controller listener (port %d) is published", port.Target)
		}
		name := ""
		for n, l := range listeners {
			if l.port == port.Target {
				name = n
			}
		}
		if a, ok := advertised[name]; !ok || a.host != "127.0.0.1" || strconv.Itoa(int(a.port)) != port.Published {
			bad("kafka: port %d is published at 127.0.0.1:%s, but its listener %q is advertised as %s:%d: host clients would be sent elsewhere",
				port.Target, port.Published, name, a.host, a.port)
		}
	}
	if len(broker.Ports) == 0 {
		bad("kafka: no port published for the host")
	}
	if hc := broker.HealthCheck; hc == nil || len(hc.Test) < 2 || hc.Test[0] != "CMD" ||
		(hc.Test[1] != kafkaTools+"kafka-broker-api-versions.sh" && hc.Test[1] != kafkaTools+"kafka-topics.sh") ||
		!slices.Contains(hc.Test, fmt.Sprintf("127.0.0.1:%d", internal.port)) {
		bad("kafka: the healthcheck must ask the broker itself (%skafka-broker-api-versions.sh or kafka-topics.sh --bootstrap-server 127.0.0.1:%d)", kafkaTools, internal.port)
	}

	if dep, ok := initSvc.DependsOn[kafkaBroker]; !ok || dep.Condition != types.ServiceConditionHealthy {
		bad("kafka-init does not wait for kafka to be healthy")
	}
	if len(initSvc.Ports) > 0 {
		bad("kafka-init publishes ports")
	}
	if len(initSvc.Command) != 1 {
		bad("kafka-init: want one script as its command, got %d arguments", len(initSvc.Command))
		return problems
	}
	creates, err := parseKafkaInit(initSvc.Command[0])
	if err != nil {
		bad("kafka-init: %v", err)
	}
	created := map[string]int{}
	for _, c := range creates {
		created[c.topic] = c.partitions
		if c.bootstrap != fmt.Sprintf("%s:%d", internal.host, internal.port) {
			bad("kafka-init: topic %s is created through %q, not the broker's internal listener %s:%d", c.topic, c.bootstrap, internal.host, internal.port)
		}
		if !c.ifNotExists {
			bad("kafka-init: topic %s without --if-not-exists: a second `up` fails", c.topic)
		}
		if c.replication != 1 {
			bad("kafka-init: topic %s has replication factor %d: one broker holds one replica", c.topic, c.replication)
		}
		if !c.hasRetention {
			bad("kafka-init: topic %s has no retention.ms", c.topic)
		}
	}
	for _, topic := range sortedNames(partitions) {
		if got, ok := created[topic]; !ok {
			bad("kafka-init does not create topic %s", topic)
		} else if got != partitions[topic] {
			bad("kafka-init creates %s with %d partitions, deploy/k8s/kafka with %d", topic, got, partitions[topic])
		}
	}
	for _, topic := range sortedNames(created) {
		if _, ok := partitions[topic]; !ok {
			bad("kafka-init creates topic %s, which deploy/k8s/kafka does not have", topic)
		}
	}
	return problems
}

// kafkaPartitions is each topic of deploy/k8s/kafka and its partitions.
func kafkaPartitions(t testing.TB) map[string]int {
	t.Helper()
	m, _ := readKafkaFiles(t)
	out := map[string]int{}
	for _, topic := range m.topics {
		out[kafkaTopicName(topic)] = topic.Spec.Partitions
	}
	return out
}

// TestComposeKafkaProfile: the kafka profile is off by default, and on it
// runs a healthy-gated KRaft broker and kafka-init with the topics of
// api/events and their .dlq twins.
func TestComposeKafkaProfile(t *testing.T) {
	plain := composeLogs(t)
	assert.NotContains(t, plain.Services, kafkaBroker, "Kafka runs without --profile kafka")
	assert.NotContains(t, plain.Services, kafkaInit)
	for _, name := range sortedNames(plain.Services) {
		assert.NotContains(t, plain.Services[name].DependsOn, kafkaBroker, "%s needs Kafka without its profile", name)
	}

	partitions := kafkaPartitions(t)
	model := readKafkaModel(t)
	for _, topic := range model.Topics {
		assert.Contains(t, partitions, topic)
		assert.Contains(t, partitions, topic+dlqSuffix)
	}
	p := composeLogs(t, kafkaProfile)
	assert.Empty(t, checkComposeKafka(p, partitions))
	withoutInit := *p
	withoutInit.Services = types.Services{}
	for name, s := range p.Services {
		if name != kafkaInit { // a one-shot: it exits, nothing waits on its health
			withoutInit.Services[name] = s
		}
	}
	assert.Empty(t, checkHealthchecks(&withoutInit))
	assert.Empty(t, checkDependsOn(p))

	// Both profiles together still publish each host port once.
	both := composeLogs(t, kafkaProfile, "logs")
	assert.Empty(t, checkPortClashes(both))
	assert.Empty(t, checkDependsOn(both))
}

// TestComposeKafkaChecksFindProblems breaks each rule of checkComposeKafka
// on a fresh load of the compose file.
func TestComposeKafkaChecksFindProblems(t *testing.T) {
	partitions := kafkaPartitions(t)
	setEnv := func(p *types.Project, key, value string) {
		s := p.Services[kafkaBroker]
		s.Environment[key] = &value
		p.Services[kafkaBroker] = s
	}
	editInit := func(p *types.Project, edit func(script string) string) {
		s := p.Services[kafkaInit]
		s.Command = types.ShellCommand{edit(s.Command[0])}
		p.Services[kafkaInit] = s
	}
	tests := []struct {
		name   string
		mutate func(p *types.Project, partitions map[string]int)
		want   string
	}{
		{"broker only", func(p *types.Project, _ map[string]int) { setEnv(p, "KAFKA_PROCESS_ROLES", "broker") }, "want broker,controller"},
		{"not a cluster id", func(p *types.Project, _ map[string]int) { setEnv(p, "CLUSTER_ID", "slipway") }, "is not a base64 UUID"},
		{"auto-created topics", func(p *types.Project, _ map[string]int) { setEnv(p, "KAFKA_AUTO_CREATE_TOPICS_ENABLE", "true") }, "KAFKA_AUTO_CREATE_TOPICS_ENABLE is \"true\""},
		{"latest image", func(p *types.Project, _ map[string]int) {
			s := p.Services[kafkaBroker]
			s.Image = "apache/kafka:latest"
			p.Services[kafkaBroker] = s
		}, `image "apache/kafka:latest"`},
		{"on by default", func(p *types.Project, _ map[string]int) {
			s := p.Services[kafkaInit]
			s.Profiles = nil
			p.Services[kafkaInit] = s
		}, "kafka-init: profiles []"},
		{"published on every address", func(p *types.Project, _ map[string]int) {
			s := p.Services[kafkaBroker]
			s.Ports = slices.Clone(s.Ports)
			s.Ports[0].HostIP = ""
			p.Services[kafkaBroker] = s
		}, `is published on "", want 127.0.0.1 only`},
		{"advertised elsewhere", func(p *types.Project, _ map[string]int) {
			setEnv(p, "KAFKA_ADVERTISED_LISTENERS", "INTERNAL://kafka:9092,HOST://kafka:9094")
		}, "host clients would be sent elsewhere"},
		{"controller published", func(p *types.Project, _ map[string]int) {
			s := p.Services[kafkaBroker]
			s.Ports = append(slices.Clone(s.Ports), types.ServicePortConfig{HostIP: "127.0.0.1", Target: 9093, Published: "9093", Protocol: "tcp"})
			p.Services[kafkaBroker] = s
		}, "the controller listener (port 9093) is published"},
		{"health is a port check", func(p *types.Project, _ map[string]int) {
			s := p.Services[kafkaBroker]
			s.HealthCheck = &types.HealthCheckConfig{Test: types.HealthCheckTest{"CMD-SHELL", "nc -z 127.0.0.1 9092"}}
			p.Services[kafkaBroker] = s
		}, "the healthcheck must ask the broker itself"},
		{"init does not wait for health", func(p *types.Project, _ map[string]int) {
			s := p.Services[kafkaInit]
			s.DependsOn = types.DependsOnConfig{kafkaBroker: {Condition: types.ServiceConditionStarted}}
			p.Services[kafkaInit] = s
		}, "kafka-init does not wait for kafka to be healthy"},
		{"missing dead-letter topic", func(p *types.Project, _ map[string]int) {
			editInit(p, func(s string) string {
				lines := strings.Split(s, "\n")
				return strings.Join(slices.DeleteFunc(lines, func(l string) bool { return strings.Contains(l, "--topic orders.dlq") }), "\n")
			})
		}, "kafka-init does not create topic orders.dlq"},
		{"partitions differ from Kubernetes", func(_ *types.Project, partitions map[string]int) { partitions["orders"]++ }, "kafka-init creates orders with"},
		{"topic Kubernetes lacks", func(_ *types.Project, partitions map[string]int) { delete(partitions, "orders.dlq") }, "which deploy/k8s/kafka does not have"},
		{"three replicas on one broker", func(p *types.Project, _ map[string]int) {
			editInit(p, func(s string) string {
				return strings.Replace(s, "--replication-factor 1", "--replication-factor 3", 1)
			})
		}, "has replication factor 3"},
		{"second up fails", func(p *types.Project, _ map[string]int) {
			editInit(p, func(s string) string { return strings.Replace(s, " --if-not-exists", "", 1) })
		}, "without --if-not-exists"},
		{"shell loop", func(p *types.Project, _ map[string]int) {
			editInit(p, func(s string) string { return "for t in orders; do echo $t; done\n" + s })
		}, "shell syntax the test cannot follow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := composeLogs(t, kafkaProfile)
			fresh := map[string]int{}
			for k, v := range partitions {
				fresh[k] = v
			}
			tt.mutate(p, fresh)
			problems := checkComposeKafka(p, fresh)
			assert.True(t, slices.ContainsFunc(problems, func(s string) bool { return strings.Contains(s, tt.want) }),
				"want a problem containing %q, got %q", tt.want, problems)
		})
	}
	require.Equal(t, []string{"no kafka service"}, checkComposeKafka(composeLogs(t), partitions), "without the profile")
}
