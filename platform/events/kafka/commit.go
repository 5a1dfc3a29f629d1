package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The consumer's offset bookkeeping: a record is marked done after its
// handler returned nil (or it was dead-lettered), and only done records are
// committed: after each poll, on a revoke and on leaving.

func (c *Consumer) markDone(r *kgo.Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.done[topicPartition{r.Topic, r.Partition}] = r
}

// commit commits the offsets after the records handled, of the partitions
// in only (all when only is nil). A failed commit is logged and kept for the
// next one: at worst the next owner handles those records again.
func (c *Consumer) commit(cl *kgo.Client, only map[string][]int32) {
	if c.crashed.Load() {
		return
	}
	c.mu.Lock()
	var recs []*kgo.Record
	for tp, r := range c.done {
		if only == nil || containsPartition(only, tp) {
			recs = append(recs, r)
		}
	}
	c.mu.Unlock()
	if len(recs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	if err := cl.CommitRecords(ctx, recs...); err != nil {
		c.logger.Warn("kafka consumer: commit failed, the records may be delivered again", "records", len(recs), "error", err)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range recs {
		tp := topicPartition{r.Topic, r.Partition}
		if c.done[tp] == r { // nothing newer was handled meanwhile
			delete(c.done, tp)
		}
	}
}

// revoked commits what was handled on the partitions leaving this member,
// before the next owner fetches its starting offsets.
func (c *Consumer) revoked(_ context.Context, cl *kgo.Client, revoked map[string][]int32) {
	c.commit(cl, revoked)
	c.forget(revoked)
}

// lost forgets the partitions taken from this member without a revoke (it
// fell out of the group): a commit would be refused, and the next owner
// handles those records again.
func (c *Consumer) lost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	c.forget(lost)
}

func (c *Consumer) forget(parts map[string][]int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for tp := range c.done {
		if containsPartition(parts, tp) {
			delete(c.done, tp)
		}
	}
}

// crash stops Run as a killed process stops: nothing handled since the last
// commit is committed, neither by Run nor by the revoke on leaving.
func (c *Consumer) crash() {
	c.crashed.Store(true)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cancel != nil {
		c.cancel()
	}
}

func containsPartition(parts map[string][]int32, tp topicPartition) bool {
	for _, p := range parts[tp.topic] {
		if p == tp.partition {
			return true
		}
	}
	return false
}
