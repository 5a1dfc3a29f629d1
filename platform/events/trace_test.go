package events

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/slipway-dev/slipway/platform/events/natstest"
	"github.com/slipway-dev/slipway/platform/store/storetest"
)

// TestTraceContextFlows checks that one trace runs from the producer's
// request through the relay's publish span to the consumer's span, whose
// context the handler receives.
// storeTracer is platform/store's instrumentation scope.
const storeTracer = "github.com/slipway-dev/slipway/platform/store"

func TestTraceContextFlows(t *testing.T) {
	t.Parallel()
	url := natstest.Shared(t)
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			exp := tracetest.NewInMemoryExporter()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
			t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

			db := openDB(t, d)
			_, js := connect(t, url)
			s := newStream(t, js)
			relay, err := NewRelay(db, js, testLogger(t), prometheus.NewRegistry(), tp)
			require.NoError(t, err)
			run(t, fast(relay).Run)

			got := make(chan trace.SpanContext, 1)
			c, err := NewConsumer(db, js, ConsumerConfig{Stream: s.name, Durable: "traced", Subjects: []string{s.prefix + ".>"}},
				func(ctx context.Context, _ *sql.Tx, _ Message) error {
					got <- trace.SpanContextFromContext(ctx)
					return nil
				}, testLogger(t), prometheus.NewRegistry(), tp)
			require.NoError(t, err)
			run(t, c.Run)

			ctx, request := tp.Tracer("test").Start(context.Background(), "POST /v1/orders", trace.WithSpanKind(trace.SpanKindServer))
			enqueue(ctx, t, db, event(s, "e1"))
			request.End()
			relay.Notify()

			var handlerSC trace.SpanContext
			select {
			case handlerSC = <-got:
			case <-time.After(waitFor):
				require.FailNow(t, "the handler never ran")
			}
			// The store's own spans (its transactions) are left out: this
			// test is about the event's trace.
			eventSpans := func() tracetest.SpanStubs {
				var out tracetest.SpanStubs
				for _, sp := range exp.GetSpans() {
					if sp.InstrumentationScope.Name != storeTracer {
						out = append(out, sp)
					}
				}
				return out
			}
			require.Eventually(t, func() bool { return len(eventSpans()) == 3 }, waitFor, tick)

			byKind := map[trace.SpanKind]tracetest.SpanStub{}
			for _, sp := range eventSpans() {
				byKind[sp.SpanKind] = sp
			}
			server, producer, consumer := byKind[trace.SpanKindServer], byKind[trace.SpanKindProducer], byKind[trace.SpanKindConsumer]
			traceID := request.SpanContext().TraceID()

			assert.Equal(t, s.subject("created")+" publish", producer.Name)
			assert.Equal(t, traceID, producer.SpanContext.TraceID())
			assert.Equal(t, server.SpanContext.SpanID(), producer.Parent.SpanID(), "publish continues the request")

			assert.Equal(t, s.subject("created")+" process", consumer.Name)
			assert.Equal(t, traceID, consumer.SpanContext.TraceID())
			assert.Equal(t, producer.SpanContext.SpanID(), consumer.Parent.SpanID(), "process is a child of publish")
			assert.True(t, consumer.Parent.IsRemote())

			assert.Equal(t, consumer.SpanContext, handlerSC, "the handler runs inside the process span")
		})
	}
}
