package events

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/slipway-dev/slipway/platform/events/natstest"
	"github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/platform/store/storetest"
)

// consumerEnv is a database with the events schema and an effects table
// that handlers write to, a stream pair, and a relay feeding the stream.
type consumerEnv struct {
	t     testing.TB
	db    *store.DB
	js    jetstream.JetStream
	s     testStream
	relay *Relay
}

func newConsumerEnv(t testing.TB, d store.Dialect, url string) *consumerEnv {
	t.Helper()
	db := openDB(t, d)
	_, err := db.ExecContext(context.Background(), "CREATE TABLE effects (event_id TEXT PRIMARY KEY, delivery INTEGER NOT NULL)")
	require.NoError(t, err)
	_, js := connect(t, url)
	s := newStream(t, js)
	r, _ := newRelay(t, db, js)
	run(t, r.Run)
	return &consumerEnv{t: t, db: db, js: js, s: s, relay: r}
}

// publish enqueues events and wakes the relay.
func (e *consumerEnv) publish(ids ...string) {
	e.t.Helper()
	for _, id := range ids {
		enqueue(context.Background(), e.t, e.db, event(e.s, id))
	}
	e.relay.Notify()
}

// config is a consumer config with test timings.
func (e *consumerEnv) config(durable string) ConsumerConfig {
	return ConsumerConfig{
		Stream:            e.s.name,
		Durable:           durable,
		Subjects:          []string{e.s.prefix + ".>"},
		MaxDeliver:        3,
		AckWait:           2 * time.Second,
		RetryDelay:        20 * time.Millisecond,
		DeadLetterSubject: e.s.dlPrefix + "." + durable,
	}
}

func (e *consumerEnv) consumer(cfg ConsumerConfig, h Handler) *Consumer {
	e.t.Helper()
	c, err := NewConsumer(e.db, e.js, cfg, h, testLogger(e.t), prometheus.NewRegistry(), nil)
	require.NoError(e.t, err)
	c.lagInterval = 20 * time.Millisecond
	c.minBackoff, c.maxBackoff = 10*time.Millisecond, 200*time.Millisecond
	return c
}

func (e *consumerEnv) effects() int {
	e.t.Helper()
	return queryInt(e.t, e.db, "SELECT count(*) FROM effects")
}

// recorder is a handler that writes an effect row through tx and remembers
// each call; fail decides whether a delivery fails after writing.
type recorder struct {
	mu    sync.Mutex
	calls []string // "<event id>#<delivery>"
	fail  func(m Message) error
}

func (r *recorder) handle(ctx context.Context, tx *sql.Tx, m Message) error {
	r.mu.Lock()
	r.calls = append(r.calls, fmt.Sprintf("%s#%d", m.ID, m.Delivery))
	r.mu.Unlock()
	var p wrapperspb.StringValue
	if err := m.Decode(&p); err != nil {
		return err
	}
	if p.GetValue() != "payload of "+m.ID {
		return fmt.Errorf("payload %q does not belong to %s", p.GetValue(), m.ID)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO effects (event_id, delivery) VALUES ($1, $2)", m.ID, int64(m.Delivery)); err != nil { //nolint:gosec // small
		return err
	}
	if r.fail != nil {
		return r.fail(m)
	}
	return nil
}

func (r *recorder) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func counter(c prometheus.Counter) float64 { return testutil.ToFloat64(c) }

func TestConsumer(t *testing.T) {
	t.Parallel()
	for _, b := range brokers() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			url := b.url(t)
			for _, d := range storetest.Dialects() {
				t.Run(string(d), func(t *testing.T) {
					t.Parallel()
					testConsumer(t, d, url)
				})
			}
		})
	}
}

func testConsumer(t *testing.T, d store.Dialect, url string) {
	t.Run("processes each event once, even when all are delivered again", func(t *testing.T) {
		t.Parallel()
		e := newConsumerEnv(t, d, url)
		e.publish("e1", "e2", "e3")
		first := &recorder{}
		c1 := e.consumer(e.config("once"), first.handle)
		stop := run(t, c1.Run)
		require.Eventually(t, func() bool { return counter(c1.ok) == 3 }, waitFor, tick)
		stop()
		assert.Equal(t, []string{"e1#1", "e2#1", "e3#1"}, first.Calls())

		// Delete the durable: the new one starts again from the first message.
		require.NoError(t, e.js.DeleteConsumer(context.Background(), e.s.name, "once"))
		again := &recorder{}
		c2 := e.consumer(e.config("once"), again.handle)
		run(t, c2.Run)
		require.Eventually(t, func() bool { return counter(c2.duplicate) == 3 }, waitFor, tick)
		assert.Empty(t, again.Calls(), "the inbox skips the handler")
		assert.Zero(t, counter(c2.ok))
		assert.Equal(t, 3, e.effects())
		assert.Equal(t, 3, queryInt(t, e.db, "SELECT count(*) FROM inbox WHERE consumer = 'once'"))
	})

	t.Run("a delivery committed but never acknowledged has no second effect", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		e := newConsumerEnv(t, d, url)
		rec := &recorder{}
		cfg := e.config("unacked")
		cfg.AckWait = 300 * time.Millisecond
		c := e.consumer(cfg, rec.handle)

		// A replica processes the message and dies before its ack.
		cons, err := e.js.CreateOrUpdateConsumer(ctx, e.s.name, c.serverConfig())
		require.NoError(t, err)
		e.publish("e1")
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(waitFor))
		require.NoError(t, err)
		jm := <-batch.Messages()
		require.NotNil(t, jm, "fetch: %v", batch.Error())
		dup, handlerErr, err := c.process(ctx, Message{
			ID: jm.Headers().Get(jetstream.MsgIDHeader), Subject: jm.Subject(), Data: jm.Data(), Header: jm.Headers(), Delivery: 1,
		})
		require.NoError(t, err)
		require.NoError(t, handlerErr)
		require.False(t, dup)

		// After AckWait JetStream delivers it again, here.
		run(t, c.Run)
		require.Eventually(t, func() bool { return counter(c.duplicate) == 1 }, waitFor, tick)
		assert.Equal(t, []string{"e1#1"}, rec.Calls())
		assert.Equal(t, 1, e.effects())
		require.Eventually(t, func() bool {
			info, err := cons.Info(ctx)
			return err == nil && info.NumAckPending == 0 && info.NumPending == 0
		}, waitFor, tick, "the redelivery was acknowledged")
	})

	t.Run("a failing or panicking handler rolls back and is retried", func(t *testing.T) {
		t.Parallel()
		e := newConsumerEnv(t, d, url)
		rec := &recorder{fail: func(m Message) error {
			switch m.Delivery {
			case 1:
				panic("handler bug")
			case 2:
				return errors.New("downstream unavailable")
			}
			return nil
		}}
		cfg := e.config("retry")
		cfg.MaxDeliver = 5
		c := e.consumer(cfg, rec.handle)
		run(t, c.Run)
		start := time.Now()
		e.publish("e1")

		require.Eventually(t, func() bool { return counter(c.ok) == 1 }, waitFor, tick)
		assert.Less(t, time.Since(start), cfg.AckWait, "redelivered after the retry delay, not the ack timeout")
		assert.Equal(t, []string{"e1#1", "e1#2", "e1#3"}, rec.Calls())
		assert.InDelta(t, 2, counter(c.failed), 0)
		assert.Zero(t, counter(c.deadLettered))
		assert.InDelta(t, 2, counter(c.redelivered), 0, "deliveries 2 and 3 are redeliveries")
		assert.Equal(t, 3, queryInt(t, e.db, "SELECT delivery FROM effects WHERE event_id = 'e1'"),
			"only the successful delivery's write is kept")
	})

	t.Run("a handler that always fails ends in the dead-letter stream", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		e := newConsumerEnv(t, d, url)
		rec := &recorder{fail: func(m Message) error { return fmt.Errorf("boom\non %s", m.ID) }}
		cfg := e.config("doomed")
		c := e.consumer(cfg, rec.handle)
		run(t, c.Run)
		start := time.Now()
		e.publish("e1", "e2")

		require.Eventually(t, func() bool { return counter(c.deadLettered) == 2 }, waitFor, tick)
		assert.Less(t, time.Since(start), cfg.AckWait, "redelivered after the retry delay, not the ack timeout")
		dead := streamMsgs(t, e.js, e.s.dlName)
		require.Len(t, dead, 2)
		orig := streamMsgs(t, e.js, e.s.name)
		require.Len(t, orig, 2)
		for i, m := range dead {
			id := orig[i].Header.Get(jetstream.MsgIDHeader)
			assert.Equal(t, cfg.DeadLetterSubject, m.Subject)
			assert.Equal(t, orig[i].Data, m.Data, "the original payload")
			assert.Equal(t, id, m.Header.Get(HeaderEventID))
			assert.Equal(t, "doomed:"+id, m.Header.Get(jetstream.MsgIDHeader))
			assert.Equal(t, e.s.subject("created"), m.Header.Get(HeaderOriginalSubject))
			assert.Equal(t, "google.protobuf.StringValue", m.Header.Get(HeaderEventType), "the original headers")
			reason := m.Header.Get(HeaderDeadLetterReason)
			assert.Contains(t, reason, "boom on "+id)
			assert.Contains(t, reason, "after 3 deliveries")
		}
		calls := rec.Calls()
		slices.Sort(calls)
		assert.Equal(t, []string{"e1#1", "e1#2", "e1#3", "e2#1", "e2#2", "e2#3"}, calls, "MaxDeliver attempts each")
		assert.InDelta(t, 4, counter(c.failed), 0)
		assert.Zero(t, e.effects(), "every attempt rolled back")
		assert.Zero(t, queryInt(t, e.db, "SELECT count(*) FROM inbox"))
		require.Eventually(t, func() bool {
			info, err := e.js.Consumer(ctx, e.s.name, "doomed")
			return err == nil && info.CachedInfo().NumAckPending == 0
		}, waitFor, tick, "terminated, not pending")
	})

	t.Run("reports lag until the backlog is processed", func(t *testing.T) {
		t.Parallel()
		e := newConsumerEnv(t, d, url)
		release := make(chan struct{})
		rec := &recorder{fail: func(Message) error { <-release; return nil }}
		c := e.consumer(e.config("laggard"), rec.handle)
		// Published first: on SQLite the blocked handler's transaction holds
		// the write lock the relay needs to mark rows sent.
		e.publish("e1", "e2", "e3", "e4", "e5")
		require.Eventually(t, func() bool { return sentCount(t, e.db) == 5 }, waitFor, tick)
		run(t, c.Run)

		require.Eventually(t, func() bool { return testutil.ToFloat64(c.lag) == 5 }, waitFor, tick)
		close(release)
		require.Eventually(t, func() bool { return testutil.ToFloat64(c.lag) == 0 }, waitFor, tick)
		assert.InDelta(t, 5, counter(c.ok), 0)
	})
}

func TestNewConsumer(t *testing.T) {
	t.Parallel()
	db := openDB(t, store.SQLite)
	_, js := connect(t, natstest.StartOpen(t).URL())
	h := func(context.Context, *sql.Tx, Message) error { return nil }

	t.Run("fills defaults", func(t *testing.T) {
		t.Parallel()
		c, err := NewConsumer(db, js, ConsumerConfig{Stream: "S", Durable: "notification"}, h, nil, nil, nil)
		require.NoError(t, err)
		assert.Equal(t, 5, c.cfg.MaxDeliver)
		assert.Equal(t, 30*time.Second, c.cfg.AckWait)
		assert.Equal(t, time.Second, c.cfg.RetryDelay)
		assert.Equal(t, "slipway.deadletter.notification", c.cfg.DeadLetterSubject)

		sc := c.serverConfig()
		assert.Equal(t, jetstream.AckExplicitPolicy, sc.AckPolicy)
		assert.Equal(t, "notification", sc.Durable)
		assert.Equal(t, 30*time.Second, sc.AckWait)
		assert.Equal(t, 5+deadLetterHeadroom, sc.MaxDeliver)
		assert.Nil(t, sc.BackOff, "retries back off through NakWithDelay")
	})

	t.Run("one subject uses FilterSubject, several FilterSubjects", func(t *testing.T) {
		t.Parallel()
		c, err := NewConsumer(db, js, ConsumerConfig{Stream: "S", Durable: "d", Subjects: []string{"a"}}, h, nil, nil, nil)
		require.NoError(t, err)
		assert.Equal(t, "a", c.serverConfig().FilterSubject)
		c, err = NewConsumer(db, js, ConsumerConfig{Stream: "S", Durable: "d", Subjects: []string{"a", "b"}}, h, nil, nil, nil)
		require.NoError(t, err)
		assert.Equal(t, []string{"a", "b"}, c.serverConfig().FilterSubjects)
	})

	t.Run("two consumers share one registry", func(t *testing.T) {
		t.Parallel()
		reg := prometheus.NewRegistry()
		_, err := NewConsumer(db, js, ConsumerConfig{Stream: "S", Durable: "a"}, h, nil, reg, nil)
		require.NoError(t, err)
		_, err = NewConsumer(db, js, ConsumerConfig{Stream: "S", Durable: "b"}, h, nil, reg, nil)
		require.NoError(t, err)
		n, err := testutil.GatherAndCount(reg, "slipway_consumer_processed_total")
		require.NoError(t, err)
		assert.Equal(t, 10, n, "five results for each consumer")
	})

	for name, tc := range map[string]struct {
		cfg ConsumerConfig
		h   Handler
	}{
		"no stream":         {ConsumerConfig{Durable: "d"}, h},
		"no durable":        {ConsumerConfig{Stream: "S"}, h},
		"dotted durable":    {ConsumerConfig{Stream: "S", Durable: "a.b"}, h},
		"negative attempts": {ConsumerConfig{Stream: "S", Durable: "d", MaxDeliver: -1}, h},
		"negative ack wait": {ConsumerConfig{Stream: "S", Durable: "d", AckWait: -time.Second}, h},
		"no handler":        {ConsumerConfig{Stream: "S", Durable: "d"}, nil},
	} {
		t.Run("rejects "+name, func(t *testing.T) {
			t.Parallel()
			_, err := NewConsumer(db, js, tc.cfg, tc.h, nil, nil, nil)
			assert.Error(t, err)
		})
	}
}

func TestMessageDecode(t *testing.T) {
	t.Parallel()
	data := []byte{0x0a, 0x02, 'h', 'i'} // StringValue{Value: "hi"}

	var got wrapperspb.StringValue
	m := Message{ID: "e1", Data: data, Header: nats.Header{HeaderEventType: []string{"google.protobuf.StringValue"}}}
	require.NoError(t, m.Decode(&got))
	assert.Equal(t, "hi", got.GetValue())

	require.NoError(t, Message{ID: "e1", Data: data}.Decode(&got), "no type header: trust the caller")

	err := m.Decode(&durationpb.Duration{})
	assert.ErrorContains(t, err, "google.protobuf.StringValue, not a google.protobuf.Duration")

	err = Message{ID: "e1", Data: []byte{0xff}}.Decode(&got)
	assert.ErrorContains(t, err, "decode event e1")
}

func TestRetryDelay(t *testing.T) {
	t.Parallel()
	c := &Consumer{cfg: ConsumerConfig{RetryDelay: time.Second}}
	assert.Equal(t, time.Second, c.retryDelay(1))
	assert.Equal(t, 2*time.Second, c.retryDelay(2))
	assert.Equal(t, 16*time.Second, c.retryDelay(5))
	assert.Equal(t, time.Minute, c.retryDelay(1000))
	assert.Equal(t, "a b c", headerValue("a\r\nb\nc", 100))
	assert.Equal(t, "ab", headerValue("abé", 3), "cut before a split rune")
}
