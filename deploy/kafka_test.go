package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	ktypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// k8sKafka is the kustomize Component that runs Kafka through Strimzi.
const k8sKafka = "deploy/k8s/kafka"

// strimziCluster is the label that ties a Strimzi resource to its Kafka.
const strimziCluster = "strimzi.io/cluster"

// The Strimzi kafka.strimzi.io/v1beta2 fields deploy/k8s/kafka uses, and
// only those: a field outside them is refused when decoding.
type (
	kafkaNodePool struct {
		metav1.TypeMeta   `json:",inline"`
		metav1.ObjectMeta `json:"metadata"`
		Spec              struct {
			Replicas int      `json:"replicas"`
			Roles    []string `json:"roles"`
			Storage  struct {
				Type    string `json:"type"`
				Volumes []struct {
					ID            int    `json:"id"`
					Type          string `json:"type"`
					Size          string `json:"size"`
					DeleteClaim   bool   `json:"deleteClaim"`
					KraftMetadata string `json:"kraftMetadata,omitempty"`
				} `json:"volumes"`
			} `json:"storage"`
			Resources corev1.ResourceRequirements `json:"resources"`
		} `json:"spec"`
	}

	kafkaCluster struct {
		metav1.TypeMeta   `json:",inline"`
		metav1.ObjectMeta `json:"metadata"`
		Spec              struct {
			Kafka struct {
				Version   string `json:"version"`
				Listeners []struct {
					Name           string `json:"name"`
					Port           int    `json:"port"`
					Type           string `json:"type"`
					TLS            bool   `json:"tls"`
					Authentication *struct {
						Type string `json:"type"`
					} `json:"authentication,omitempty"`
				} `json:"listeners"`
				Authorization *struct {
					Type string `json:"type"`
				} `json:"authorization,omitempty"`
				Config map[string]any `json:"config"`
			} `json:"kafka"`
			EntityOperator struct {
				TopicOperator *struct{} `json:"topicOperator,omitempty"`
				UserOperator  *struct{} `json:"userOperator,omitempty"`
			} `json:"entityOperator"`
		} `json:"spec"`
	}

	kafkaTopic struct {
		metav1.TypeMeta   `json:",inline"`
		metav1.ObjectMeta `json:"metadata"`
		Spec              struct {
			TopicName  string         `json:"topicName,omitempty"`
			Partitions int            `json:"partitions"`
			Replicas   int            `json:"replicas"`
			Config     map[string]any `json:"config"`
		} `json:"spec"`
	}

	kafkaUser struct {
		metav1.TypeMeta   `json:",inline"`
		metav1.ObjectMeta `json:"metadata"`
		Spec              struct {
			Authentication struct {
				Type string `json:"type"`
			} `json:"authentication"`
			Authorization struct {
				Type string `json:"type"`
				ACLs []struct {
					Resource struct {
						Type        string `json:"type"`
						Name        string `json:"name"`
						PatternType string `json:"patternType"`
					} `json:"resource"`
					Operations []string `json:"operations"`
					Host       string   `json:"host,omitempty"`
				} `json:"acls"`
			} `json:"authorization"`
		} `json:"spec"`
	}
)

// kafkaKinds are the kinds deploy/k8s/kafka holds.
var kafkaKinds = map[string]func() any{
	"kafka.strimzi.io/v1beta2/KafkaNodePool": func() any { return new(kafkaNodePool) },
	"kafka.strimzi.io/v1beta2/Kafka":         func() any { return new(kafkaCluster) },
	"kafka.strimzi.io/v1beta2/KafkaTopic":    func() any { return new(kafkaTopic) },
	"kafka.strimzi.io/v1beta2/KafkaUser":     func() any { return new(kafkaUser) },
}

// kafkaManifests is deploy/k8s/kafka, decoded.
type kafkaManifests struct {
	pools    []*kafkaNodePool
	clusters []*kafkaCluster
	topics   []*kafkaTopic
	users    []*kafkaUser
}

func sortKafkaObjects(objs []any) kafkaManifests {
	var m kafkaManifests
	for _, o := range objs {
		switch v := o.(type) {
		case *kafkaNodePool:
			m.pools = append(m.pools, v)
		case *kafkaCluster:
			m.clusters = append(m.clusters, v)
		case *kafkaTopic:
			m.topics = append(m.topics, v)
		case *kafkaUser:
			m.users = append(m.users, v)
		}
	}
	return m
}

// readKafkaFiles decodes every YAML file of deploy/k8s/kafka but the
// kustomization strictly, so a file the kustomization forgets is checked too.
func readKafkaFiles(t testing.TB) (kafkaManifests, []string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot(t), k8sKafka, "*.yaml"))
	require.NoError(t, err)
	var objs []any
	var names []string
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		names = append(names, filepath.Base(f))
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		o, err := decodeManifests(data, kafkaKinds)
		require.NoError(t, err, "%s", f)
		objs = append(objs, o...)
	}
	return sortKafkaObjects(objs), names
}

// renderKafka renders the component as an overlay that includes it would:
// on an in-memory copy of deploy/k8s/kafka, a kustomization beside it with
// the namespace slipway and ../kafka as its one component.
func renderKafka(t testing.TB) (kafkaManifests, []string) {
	t.Helper()
	fs := filesys.MakeFsInMemory()
	files, err := filepath.Glob(filepath.Join(repoRoot(t), k8sKafka, "*.yaml"))
	require.NoError(t, err)
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		require.NoError(t, fs.WriteFile(filepath.Join("/repo/kafka", filepath.Base(f)), data))
	}
	overlay := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: slipway\ncomponents:\n  - ../kafka\n"
	require.NoError(t, fs.WriteFile("/repo/overlay/kustomization.yaml", []byte(overlay)))
	opts := krusty.MakeDefaultOptions()
	opts.LoadRestrictions = ktypes.LoadRestrictionsRootOnly
	res, err := krusty.MakeKustomizer(opts).Run(fs, "/repo/overlay")
	require.NoError(t, err)
	out, err := res.AsYaml()
	require.NoError(t, err)
	objs, err := decodeManifests(out, kafkaKinds)
	require.NoError(t, err)
	var namespaces []string
	for _, r := range res.Resources() {
		namespaces = append(namespaces, r.GetNamespace())
	}
	return sortKafkaObjects(objs), namespaces
}

// configInt reads an integer Kafka setting, written as a YAML number or string.
func configInt(config map[string]any, key string) (int, bool) {
	switch v := config[key].(type) {
	case int64: // what decodeManifests gives a YAML integer
		return int(v), true
	case int:
		return v, true
	case float64:
		return int(v), v == float64(int(v))
	case string:
		n, err := strconv.Atoi(v)
		return n, err == nil
	}
	return 0, false
}

// checkKafkaCluster: one Kafka in KRaft mode on node pools, at least three
// nodes that are controllers (an odd number, for the quorum) and three
// that are brokers; three replicas of everything with two in sync, no
// auto-created topics, only mTLS listeners, simple authorization, and the
// Topic and User Operators that apply the topics and users.
func checkKafkaCluster(m kafkaManifests) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if len(m.clusters) != 1 {
		return []string{fmt.Sprintf("%d Kafka resources, want 1", len(m.clusters))}
	}
	k := m.clusters[0]
	for _, a := range []string{"strimzi.io/kraft", "strimzi.io/node-pools"} {
		if k.Annotations[a] != "enabled" {
			bad("Kafka %s: annotation %s is %q, want enabled (KRaft on node pools)", k.Name, a, k.Annotations[a])
		}
	}
	var controllers, brokers int
	for _, p := range m.pools {
		if p.Labels[strimziCluster] != k.Name {
			bad("KafkaNodePool %s belongs to %q, not Kafka %s", p.Name, p.Labels[strimziCluster], k.Name)
			continue
		}
		if slices.Contains(p.Spec.Roles, "controller") {
			controllers += p.Spec.Replicas
		}
		if slices.Contains(p.Spec.Roles, "broker") {
			brokers += p.Spec.Replicas
		}
		for _, v := range p.Spec.Storage.Volumes {
			if v.DeleteClaim {
				bad("KafkaNodePool %s: volume %d is deleted with the pool", p.Name, v.ID)
			}
		}
	}
	if controllers < 3 || controllers%2 == 0 {
		bad("%d KRaft controllers, want an odd number, at least 3", controllers)
	}
	if brokers < 3 {
		bad("%d brokers, want at least 3", brokers)
	}
	cfg := k.Spec.Kafka.Config
	for _, key := range []string{"default.replication.factor", "offsets.topic.replication.factor", "transaction.state.log.replication.factor"} {
		if n, ok := configInt(cfg, key); !ok || n < 3 {
			bad("Kafka %s: %s is %v, want at least 3", k.Name, key, cfg[key])
		} else if n > brokers {
			bad("Kafka %s: %s is %d, more than the %d brokers", k.Name, key, n, brokers)
		}
	}
	for _, key := range []string{"min.insync.replicas", "transaction.state.log.min.isr"} {
		if n, ok := configInt(cfg, key); !ok || n != 2 {
			bad("Kafka %s: %s is %v, want 2", k.Name, key, cfg[key])
		}
	}
	if v, ok := cfg["auto.create.topics.enable"].(bool); !ok || v {
		bad("Kafka %s: auto.create.topics.enable is %v, want false", k.Name, cfg["auto.create.topics.enable"])
	}
	if len(k.Spec.Kafka.Listeners) == 0 {
		bad("Kafka %s has no listener", k.Name)
	}
	for _, l := range k.Spec.Kafka.Listeners {
		if !l.TLS || l.Authentication == nil || l.Authentication.Type != "tls" {
			bad("Kafka %s: listener %s is not TLS with client certificates", k.Name, l.Name)
		}
	}
	if a := k.Spec.Kafka.Authorization; a == nil || a.Type != "simple" {
		bad("Kafka %s: no simple authorization: every user may do anything", k.Name)
	}
	if k.Spec.EntityOperator.TopicOperator == nil || k.Spec.EntityOperator.UserOperator == nil {
		bad("Kafka %s: the Topic and User Operators must run to apply the KafkaTopics and KafkaUsers", k.Name)
	}
	return problems
}

// kafkaTopicName is the topic a KafkaTopic creates.
func kafkaTopicName(t *kafkaTopic) string {
	if t.Spec.TopicName != "" {
		return t.Spec.TopicName
	}
	return t.Name
}

// checkKafkaTopics: the topics are exactly api/events' streams and their
// .dlq twins, each of the cluster, with three replicas and two in sync
// (explicit or the cluster's), and a retention.
func checkKafkaTopics(m kafkaManifests, model kafkaModel) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	var cluster string
	var clusterISR int
	if len(m.clusters) == 1 {
		cluster = m.clusters[0].Name
		clusterISR, _ = configInt(m.clusters[0].Spec.Kafka.Config, "min.insync.replicas")
	}
	var names []string
	partitions := map[string]int{}
	for _, t := range m.topics {
		name := kafkaTopicName(t)
		names = append(names, name)
		partitions[name] = t.Spec.Partitions
		if t.Labels[strimziCluster] != cluster {
			bad("KafkaTopic %s belongs to %q, not Kafka %q", name, t.Labels[strimziCluster], cluster)
		}
		if t.Spec.Partitions < 1 {
			bad("KafkaTopic %s: %d partitions", name, t.Spec.Partitions)
		}
		if t.Spec.Replicas < 3 {
			bad("KafkaTopic %s: %d replicas, want at least 3", name, t.Spec.Replicas)
		}
		isr, set := configInt(t.Spec.Config, "min.insync.replicas")
		if _, present := t.Spec.Config["min.insync.replicas"]; !present {
			isr, set = clusterISR, true
		}
		if !set || isr != 2 {
			bad("KafkaTopic %s: min.insync.replicas is %v, want 2", name, t.Spec.Config["min.insync.replicas"])
		}
		if ms, ok := configInt(t.Spec.Config, "retention.ms"); !ok || ms <= 0 {
			bad("KafkaTopic %s: retention.ms is %v, want a bounded retention", name, t.Spec.Config["retention.ms"])
		}
	}
	for _, name := range names {
		base, isDLQ := strings.CutSuffix(name, dlqSuffix)
		switch {
		case isDLQ && !slices.Contains(names, base):
			bad("KafkaTopic %s is the dead-letter twin of no topic", name)
		case !isDLQ && !slices.Contains(names, name+dlqSuffix):
			bad("KafkaTopic %s has no %s%s twin for its dead letters", name, name, dlqSuffix)
		case isDLQ && partitions[name] != partitions[base]:
			bad("KafkaTopic %s has %d partitions, its topic %s %d: EnsureTopics expects one count for both", name, partitions[name], base, partitions[base])
		case !isDLQ && !slices.Contains(model.Topics, name):
			bad("KafkaTopic %s is no stream of %s (streams as topics: %v)", name, apiEventsDir, model.Topics)
		}
	}
	for _, want := range model.Topics {
		if !slices.Contains(names, want) {
			bad("stream %s of %s has no KafkaTopic", want, apiEventsDir)
		}
	}
	return problems
}

// checkKafkaUsers: each service of api/events Accesses has a KafkaUser of
// its name, authenticated by certificate, whose ACLs are exactly those its
// access maps to. Before the comparison, every ACL that grants more than
// one named resource or one operation is reported on its own: All, a
// wildcard or prefixed name, a resource type beyond topic and group.
func checkKafkaUsers(m kafkaManifests, model kafkaModel) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	seen := map[string]bool{}
	for _, u := range m.users {
		seen[u.Name] = true
		want, known := model.ACLs[u.Name]
		if !known {
			bad("KafkaUser %s is no service of %s Accesses", u.Name, apiEventsDir)
		}
		if len(m.clusters) == 1 && u.Labels[strimziCluster] != m.clusters[0].Name {
			bad("KafkaUser %s belongs to %q, not Kafka %s", u.Name, u.Labels[strimziCluster], m.clusters[0].Name)
		}
		if u.Spec.Authentication.Type != "tls" {
			bad("KafkaUser %s: authentication %q, want tls (the listener's client certificates)", u.Name, u.Spec.Authentication.Type)
		}
		if u.Spec.Authorization.Type != "simple" {
			bad("KafkaUser %s: authorization %q, want simple", u.Name, u.Spec.Authorization.Type)
		}
		var got []kafkaACL
		for _, a := range u.Spec.Authorization.ACLs {
			r := a.Resource
			switch {
			case r.Type != "topic" && r.Type != "group":
				bad("KafkaUser %s: an ACL on resource type %q: services need topics and groups only", u.Name, r.Type)
			case r.Name == "" || strings.Contains(r.Name, "*"):
				bad("KafkaUser %s: %s name %q is a wildcard", u.Name, r.Type, r.Name)
			case r.PatternType != "literal":
				bad("KafkaUser %s: %s %s has pattern type %q: a prefix covers other services' resources", u.Name, r.Type, r.Name, r.PatternType)
			}
			if a.Host != "" && a.Host != "*" {
				bad("KafkaUser %s: host %q: client addresses are not an identity in a cluster", u.Name, a.Host)
			}
			if len(a.Operations) == 0 {
				bad("KafkaUser %s: an ACL on %s %s without operations", u.Name, r.Type, r.Name)
			}
			for _, op := range a.Operations {
				if op == "All" {
					bad("KafkaUser %s: All on %s %s", u.Name, r.Type, r.Name)
				}
				got = append(got, kafkaACL{r.Type, r.Name, r.PatternType, op})
			}
		}
		if got = sortedACLs(got); known && !slices.Equal(got, want) {
			bad("KafkaUser %s grants %v, want exactly %v", u.Name, got, want)
		}
	}
	for _, name := range sortedNames(model.ACLs) {
		if !seen[name] {
			bad("service %s of %s Accesses has no KafkaUser", name, apiEventsDir)
		}
	}
	return problems
}

// checkKafkaPartitions: each topic has at least as many partitions as the
// most replicas a consumer of it may run (maxReplicas by service, its
// HorizontalPodAutoscaler's maximum), or the replicas beyond the
// partitions sit idle in their group. The consumers are the users of
// model with a group: each reads the topics it has Read on.
func checkKafkaPartitions(m kafkaManifests, model kafkaModel, maxReplicas map[string]int32) []string {
	var problems []string
	partitions := map[string]int{}
	for _, t := range m.topics {
		partitions[kafkaTopicName(t)] = t.Spec.Partitions
	}
	for _, user := range sortedNames(model.ACLs) {
		acls := model.ACLs[user]
		if !slices.ContainsFunc(acls, func(a kafkaACL) bool { return a.ResourceType == "group" }) {
			continue
		}
		for _, a := range acls {
			if a.ResourceType != "topic" || a.Operation != "Read" {
				continue
			}
			if n, ok := maxReplicas[user]; !ok {
				problems = append(problems, fmt.Sprintf("consumer %s has no HorizontalPodAutoscaler to size %s by", user, a.Name))
			} else if partitions[a.Name] < int(n) {
				problems = append(problems, fmt.Sprintf("KafkaTopic %s: %d partitions for up to %d %s replicas in one group", a.Name, partitions[a.Name], n, user))
			}
		}
	}
	return problems
}

// TestKubernetesKafka: deploy/k8s/kafka, decoded strictly file by file and
// rendered as an overlay includes it, is a KRaft cluster with replication
// 3 and min.insync.replicas 2, api/events' topics with their .dlq twins,
// and least-privilege users.
func TestKubernetesKafka(t *testing.T) {
	model := readKafkaModel(t)
	files, names := readKafkaFiles(t)
	k := readKustomization(t, filepath.Join(repoRoot(t), k8sKafka))
	assert.Equal(t, "Component", k.Kind)
	assert.ElementsMatch(t, names, k.Resources, "every file of %s is a resource of its kustomization", k8sKafka)

	rendered, namespaces := renderKafka(t)
	for _, ns := range namespaces {
		assert.Equal(t, "slipway", ns, "the including overlay's namespace applies")
	}
	for name, m := range map[string]kafkaManifests{"files": files, "rendered": rendered} {
		t.Run(name, func(t *testing.T) {
			require.NotEmpty(t, m.topics)
			require.NotEmpty(t, m.users)
			assert.Empty(t, checkKafkaCluster(m))
			assert.Empty(t, checkKafkaTopics(m, model))
			assert.Empty(t, checkKafkaUsers(m, model))
		})
	}

	overlays := renderedOverlays(t)
	t.Run("not in an overlay yet", func(t *testing.T) {
		// The services cannot use it until platform/events has its Kafka backend.
		for _, o := range overlays {
			for _, obj := range o.objects {
				assert.NotContains(t, obj.apiVersion, "kafka.strimzi.io", "overlay %s renders %s %s", o.env, obj.kind, obj.name)
			}
		}
	})

	t.Run("every consumer replica gets a partition", func(t *testing.T) {
		maxReplicas := map[string]int32{}
		for _, o := range overlays {
			for _, hpa := range all[*autoscalingv2.HorizontalPodAutoscaler](o, "HorizontalPodAutoscaler") {
				maxReplicas[hpa.Name] = max(maxReplicas[hpa.Name], hpa.Spec.MaxReplicas)
			}
		}
		require.NotZero(t, maxReplicas["inventory"], "no inventory HorizontalPodAutoscaler rendered")
		assert.Empty(t, checkKafkaPartitions(files, model, maxReplicas))

		maxReplicas["notification"] = 13
		assert.Contains(t, checkKafkaPartitions(files, model, maxReplicas), "KafkaTopic orders: 12 partitions for up to 13 notification replicas in one group")
		delete(maxReplicas, "inventory")
		assert.Contains(t, checkKafkaPartitions(files, model, maxReplicas), "consumer inventory has no HorizontalPodAutoscaler to size orders by")
	})

	t.Run("strict decoding", func(t *testing.T) {
		_, err := decodeManifests([]byte("apiVersion: kafka.strimzi.io/v1beta2\nkind: KafkaTopic\nmetadata: {name: x}\nspec: {partitions: 1, replicas: 3, replica: 3}\n"), kafkaKinds)
		assert.ErrorContains(t, err, `unknown field "spec.replica"`)
		_, err = decodeManifests([]byte("apiVersion: kafka.strimzi.io/v1beta2\nkind: Kafka\nmetadata: {name: x}\nspec: {zookeeper: {replicas: 3}}\n"), kafkaKinds)
		assert.ErrorContains(t, err, `unknown field "spec.zookeeper"`)
		_, err = decodeManifests([]byte("apiVersion: kafka.strimzi.io/v1beta2\nkind: KafkaConnect\nmetadata: {name: x}\n"), kafkaKinds)
		assert.ErrorContains(t, err, "no Go type to check it against")
	})
}

// TestKubernetesKafkaChecksFindProblems breaks each rule of the Kafka
// checks on a fresh copy of deploy/k8s/kafka, so a check that cannot fail
// is caught.
func TestKubernetesKafkaChecksFindProblems(t *testing.T) {
	model := readKafkaModel(t)
	user := func(m *kafkaManifests, name string) *kafkaUser {
		i := slices.IndexFunc(m.users, func(u *kafkaUser) bool { return u.Name == name })
		require.GreaterOrEqual(t, i, 0, "no KafkaUser %s", name)
		return m.users[i]
	}
	topic := func(m *kafkaManifests, name string) *kafkaTopic {
		i := slices.IndexFunc(m.topics, func(t *kafkaTopic) bool { return kafkaTopicName(t) == name })
		require.GreaterOrEqual(t, i, 0, "no KafkaTopic %s", name)
		return m.topics[i]
	}
	tests := []struct {
		name   string
		mutate func(m *kafkaManifests, model *kafkaModel)
		want   string
	}{
		{"ZooKeeper mode", func(m *kafkaManifests, _ *kafkaModel) {
			delete(m.clusters[0].Annotations, "strimzi.io/kraft")
		}, "annotation strimzi.io/kraft"},
		{"two controllers", func(m *kafkaManifests, _ *kafkaModel) { m.pools[0].Spec.Replicas = 2 }, "2 KRaft controllers"},
		{"replication 2", func(m *kafkaManifests, _ *kafkaModel) {
			m.clusters[0].Spec.Kafka.Config["default.replication.factor"] = float64(2)
		}, "default.replication.factor is 2, want at least 3"},
		{"min.insync.replicas 1", func(m *kafkaManifests, _ *kafkaModel) {
			m.clusters[0].Spec.Kafka.Config["min.insync.replicas"] = float64(1)
		}, "min.insync.replicas is 1, want 2"},
		{"auto-created topics", func(m *kafkaManifests, _ *kafkaModel) {
			m.clusters[0].Spec.Kafka.Config["auto.create.topics.enable"] = true
		}, "auto.create.topics.enable is true"},
		{"plain listener", func(m *kafkaManifests, _ *kafkaModel) { m.clusters[0].Spec.Kafka.Listeners[0].TLS = false }, "is not TLS with client certificates"},
		{"no authorization", func(m *kafkaManifests, _ *kafkaModel) { m.clusters[0].Spec.Kafka.Authorization = nil }, "no simple authorization"},
		{"topic with two replicas", func(m *kafkaManifests, _ *kafkaModel) { topic(m, "orders").Spec.Replicas = 2 }, "KafkaTopic orders: 2 replicas"},
		{"topic with min.insync.replicas 1", func(m *kafkaManifests, _ *kafkaModel) {
			topic(m, "orders.dlq").Spec.Config["min.insync.replicas"] = float64(1)
		}, "KafkaTopic orders.dlq: min.insync.replicas is 1"},
		{"topic kept forever", func(m *kafkaManifests, _ *kafkaModel) { topic(m, "orders").Spec.Config["retention.ms"] = float64(-1) }, "want a bounded retention"},
		{"dead-letter twin with its own partition count", func(m *kafkaManifests, _ *kafkaModel) {
			topic(m, "orders.dlq").Spec.Partitions = 1
		}, "KafkaTopic orders.dlq has 1 partitions, its topic orders 12"},
		{"no dead-letter twin", func(m *kafkaManifests, _ *kafkaModel) { topic(m, "orders.dlq").Name = "orders-dead" }, "has no orders.dlq twin"},
		{"renamed stream", func(_ *kafkaManifests, model *kafkaModel) { model.Topics = []string{"order_events"} }, "stream order_events of api/events has no KafkaTopic"},
		{"topic of no stream", func(m *kafkaManifests, _ *kafkaModel) {
			extra := *topic(m, "orders")
			extra.Name = "payments"
			dlq := *topic(m, "orders.dlq")
			dlq.Name = "payments.dlq"
			m.topics = append(m.topics, &extra, &dlq)
		}, "KafkaTopic payments is no stream of api/events"},
		{"All", func(m *kafkaManifests, _ *kafkaModel) {
			user(m, "inventory").Spec.Authorization.ACLs[0].Operations = []string{"All"}
		}, "KafkaUser inventory: All on topic orders"},
		{"wildcard topic", func(m *kafkaManifests, _ *kafkaModel) {
			user(m, "order").Spec.Authorization.ACLs[0].Resource.Name = "*"
		}, `KafkaUser order: topic name "*" is a wildcard`},
		{"wildcard group", func(m *kafkaManifests, _ *kafkaModel) {
			user(m, "notification").Spec.Authorization.ACLs[1].Resource.Name = "*"
		}, `KafkaUser notification: group name "*" is a wildcard`},
		{"prefix pattern", func(m *kafkaManifests, _ *kafkaModel) {
			user(m, "notification").Spec.Authorization.ACLs[0].Resource.PatternType = "prefix"
		}, `has pattern type "prefix"`},
		{"cluster resource", func(m *kafkaManifests, _ *kafkaModel) {
			user(m, "order").Spec.Authorization.ACLs[0].Resource.Type = "cluster"
		}, `an ACL on resource type "cluster"`},
		{"another service's group", func(m *kafkaManifests, _ *kafkaModel) {
			user(m, "inventory").Spec.Authorization.ACLs[1].Resource.Name = "notification"
		}, "KafkaUser inventory grants"},
		{"consumer writes order events", func(m *kafkaManifests, _ *kafkaModel) {
			acls := &user(m, "notification").Spec.Authorization.ACLs
			(*acls)[0].Operations = append((*acls)[0].Operations, "Write")
		}, "KafkaUser notification grants"},
		{"producer creates topics", func(m *kafkaManifests, _ *kafkaModel) {
			acls := &user(m, "order").Spec.Authorization.ACLs
			(*acls)[0].Operations = append((*acls)[0].Operations, "Create")
		}, "KafkaUser order grants"},
		{"no certificate", func(m *kafkaManifests, _ *kafkaModel) { user(m, "order").Spec.Authentication.Type = "scram-sha-512" }, `KafkaUser order: authentication "scram-sha-512"`},
		{"unknown user", func(m *kafkaManifests, _ *kafkaModel) { user(m, "order").Name = "admin" }, "KafkaUser admin is no service"},
		{"service without user", func(m *kafkaManifests, _ *kafkaModel) {
			user(m, "inventory").Name = "stock"
		}, "service inventory of api/events Accesses has no KafkaUser"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := readKafkaFiles(t)
			fresh := model
			fresh.Topics = slices.Clone(model.Topics)
			tt.mutate(&m, &fresh)
			problems := slices.Concat(checkKafkaCluster(m), checkKafkaTopics(m, fresh), checkKafkaUsers(m, fresh))
			assert.True(t, slices.ContainsFunc(problems, func(s string) bool { return strings.Contains(s, tt.want) }),
				"want a problem containing %q, got %q", tt.want, problems)
		})
	}
}
