// Package kafkatest starts an in-process Kafka cluster for tests: kfake,
// which speaks the Kafka wire protocol, so the clients under test run their
// real produce, fetch, group and commit requests against it.
package kafkatest

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// NewCluster starts a one-broker cluster with opts (kfake.SeedTopics,
// kfake.NumBrokers, ...) and returns it and its seed broker addresses. The
// cluster is closed when the test ends.
func NewCluster(tb testing.TB, opts ...kfake.Opt) (*kfake.Cluster, []string) {
	tb.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		tb.Fatalf("kafkatest: start kfake cluster: %v", err)
	}
	tb.Cleanup(c.Close)
	return c, c.ListenAddrs()
}
