package kafka

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// URL defaults.
const (
	defaultPort       = "9092"
	defaultPartitions = 3
	// brokerReplication asks the broker for its default.replication.factor
	// (Kafka 2.4 and later), so that the cluster's operator decides.
	brokerReplication = -1
)

// URLConfig is what an events URL of scheme kafka says.
type URLConfig struct {
	ClientConfig
	// Partitions and ReplicationFactor are the TopicSpec of the topics
	// EnsureTopics creates (see Topic). ReplicationFactor -1 is the broker's
	// default.replication.factor.
	Partitions        int32
	ReplicationFactor int16
}

// Topic is the TopicSpec of the topic name under this configuration.
func (c URLConfig) Topic(name string) TopicSpec {
	return TopicSpec{Name: name, Partitions: c.Partitions, ReplicationFactor: c.ReplicationFactor}
}

// ParseURL reads an events URL of the form
//
//	kafka://broker1:9092,broker2:9092/?partitions=6&replication=3&client_id=order
//
// Brokers without a port get 9092. partitions defaults to 3 and
// replication to the broker's default. Credentials in the URL are refused:
// SASL is not supported yet.
func ParseURL(raw string) (URLConfig, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return URLConfig{}, fmt.Errorf("kafka: events url: %w", err)
	}
	if u.Scheme != "kafka" {
		return URLConfig{}, fmt.Errorf("kafka: events url: scheme %q, want kafka", u.Scheme)
	}
	if u.User != nil {
		return URLConfig{}, fmt.Errorf("kafka: events url %s: credentials are not supported yet (no SASL)", u.Redacted())
	}
	if u.Path != "" && u.Path != "/" {
		return URLConfig{}, fmt.Errorf("kafka: events url: unexpected path %q", u.Path)
	}
	cfg := URLConfig{Partitions: defaultPartitions, ReplicationFactor: brokerReplication}
	for b := range strings.SplitSeq(u.Host, ",") {
		if b == "" {
			return URLConfig{}, fmt.Errorf("kafka: events url %s: empty broker address", raw)
		}
		if _, _, err := net.SplitHostPort(b); err != nil {
			b = net.JoinHostPort(b, defaultPort)
		}
		cfg.Brokers = append(cfg.Brokers, b)
	}
	for key, vals := range u.Query() {
		v := vals[len(vals)-1]
		switch key {
		case "partitions":
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil || n < 1 {
				return URLConfig{}, fmt.Errorf("kafka: events url: partitions=%q: want a whole number of at least 1", v)
			}
			cfg.Partitions = int32(n)
		case "replication":
			n, err := strconv.ParseInt(v, 10, 16)
			if err != nil || n < 1 {
				return URLConfig{}, fmt.Errorf("kafka: events url: replication=%q: want a whole number of at least 1", v)
			}
			cfg.ReplicationFactor = int16(n)
		case "client_id":
			cfg.ClientID = v
		default:
			return URLConfig{}, fmt.Errorf("kafka: events url: unknown parameter %q (known: partitions, replication, client_id)", key)
		}
	}
	return cfg, nil
}
