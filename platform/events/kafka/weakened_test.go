package kafka

import (
	"context"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

// crashable is a consumer a test can kill as a process is killed.
type crashable interface {
	Run(ctx context.Context) error
	crash()
}

// commitFirstConsumer is the weakened variant the tests hold against
// Consumer: it commits each record's offset before calling the handler, as
// kgo's autocommit of polled offsets would. Everything else is the same
// group member.
type commitFirstConsumer struct {
	base *Consumer
	mu   sync.Mutex
	stop context.CancelFunc
}

func newCommitFirstConsumer(cfg ConsumerConfig, h Handler) *commitFirstConsumer {
	base, err := NewConsumer(cfg, h, nil, nil)
	if err != nil {
		panic(err)
	}
	return &commitFirstConsumer{base: base}
}

func (c *commitFirstConsumer) crash() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stop()
}

func (c *commitFirstConsumer) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c.mu.Lock()
	c.stop = cancel
	c.mu.Unlock()
	cl, err := kgo.NewClient(c.base.clientOpts()...)
	if err != nil {
		return err
	}
	c.base.crashed.Store(true) // only the commits below, none on leaving
	defer cl.CloseAllowingRebalance()
	for {
		fetches := cl.PollRecords(ctx, 1)
		if ctx.Err() != nil {
			cl.AllowRebalance()
			return nil
		}
		for _, r := range fetches.Records() {
			if err := cl.CommitRecords(ctx, r); err != nil {
				return err
			}
			m := Message{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: string(r.Key), Value: r.Value, Header: headerOf(r.Headers), Attempt: 1}
			_ = c.base.h(ctx, m) // a failure cannot take back the commit above
		}
		cl.AllowRebalance()
	}
}
