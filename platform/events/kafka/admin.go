package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// deadLetterSuffix ends the name of a topic's dead-letter topic.
const deadLetterSuffix = ".dlq"

// maxTopicLen is Kafka's limit on a topic name.
const maxTopicLen = 249

// DeadLetterTopic is where consumers of topic dead-letter its records.
func DeadLetterTopic(topic string) string { return topic + deadLetterSuffix }

// TopicSpec is a topic as configuration asks for it.
type TopicSpec struct {
	Name string
	// Partitions bounds a consumer group's parallelism; every record of one
	// key stays on one of them.
	Partitions int32
	// ReplicationFactor is how many brokers keep each partition, or -1 for
	// the broker's default.replication.factor. Above 1 the topic gets
	// min.insync.replicas = ReplicationFactor-1, so that an acks=all write
	// survives the loss of any one broker and the topic still accepts
	// writes while one is down.
	ReplicationFactor int16
}

func (s TopicSpec) validate() error {
	if err := validTopic(s.Name); err != nil {
		return err
	}
	if s.Partitions < 1 {
		return fmt.Errorf("topic %s: partitions must be at least 1, not %d", s.Name, s.Partitions)
	}
	if s.ReplicationFactor < 1 && s.ReplicationFactor != brokerReplication {
		return fmt.Errorf("topic %s: replication factor must be at least 1 (or -1, the broker's default), not %d", s.Name, s.ReplicationFactor)
	}
	return nil
}

// EnsureTopics creates each topic of specs and its dead-letter topic (same
// partitions and replication) unless it exists. A topic that exists with
// another partition count is an error, not changed: adding partitions moves
// keys to other partitions, which breaks the per-key order of the records in
// flight, so it is an operator's decision.
func EnsureTopics(ctx context.Context, cfg ClientConfig, specs ...TopicSpec) error {
	if len(specs) == 0 {
		return errors.New("kafka: ensure topics: no topics given")
	}
	var all []TopicSpec
	seen := map[string]bool{}
	for _, s := range specs {
		if err := s.validate(); err != nil {
			return fmt.Errorf("kafka: ensure topics: %w", err)
		}
		dlq := s
		dlq.Name = DeadLetterTopic(s.Name)
		for _, t := range []TopicSpec{s, dlq} {
			if !seen[t.Name] {
				seen[t.Name] = true
				all = append(all, t)
			}
		}
	}
	opts, err := cfg.opts()
	if err != nil {
		return fmt.Errorf("kafka: ensure topics: %w", err)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka: ensure topics: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for _, s := range all {
		if err := ensureTopic(ctx, adm, s); err != nil {
			return fmt.Errorf("kafka: ensure topics: %w", err)
		}
	}
	return nil
}

func ensureTopic(ctx context.Context, adm *kadm.Client, s TopicSpec) error {
	var configs map[string]*string
	if s.ReplicationFactor > 1 {
		minISR := strconv.Itoa(int(s.ReplicationFactor) - 1)
		configs = map[string]*string{"min.insync.replicas": &minISR}
	}
	res, err := adm.CreateTopic(ctx, s.Partitions, s.ReplicationFactor, configs, s.Name)
	if err == nil {
		err = res.Err
	}
	if err == nil {
		return nil
	}
	if !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create topic %s: %w", s.Name, err)
	}
	details, err := adm.ListTopics(ctx, s.Name)
	if err != nil {
		return fmt.Errorf("describe topic %s: %w", s.Name, err)
	}
	d, ok := details[s.Name]
	if !ok || d.Err != nil {
		return fmt.Errorf("describe topic %s: %w", s.Name, errors.Join(d.Err, errors.New("not in the metadata")))
	}
	if n := int32(len(d.Partitions)); n != s.Partitions {
		return fmt.Errorf("topic %s exists with %d partitions, configuration asks for %d; "+
			"changing the count moves keys between partitions, so change it yourself when no record is in flight",
			s.Name, n, s.Partitions)
	}
	return nil
}

// validTopic checks a topic name against Kafka's rules.
func validTopic(name string) error {
	switch {
	case name == "":
		return errors.New("empty topic name")
	case len(name) > maxTopicLen:
		return fmt.Errorf("topic name %.40q... is longer than %d characters", name, maxTopicLen)
	case name == "." || name == "..":
		return fmt.Errorf("topic name %q is not allowed", name)
	}
	for _, r := range name {
		if !legalTopicRune(r) {
			return fmt.Errorf("topic name %q: only letters, digits, '.', '_' and '-' are allowed", name)
		}
	}
	return nil
}

func legalTopicRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
}
