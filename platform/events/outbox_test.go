package events

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/slipway-dev/slipway/platform/store"
	"github.com/slipway-dev/slipway/platform/store/storetest"
)

func TestEnsureSchema(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := storetest.Open(t, d)
			require.NoError(t, EnsureSchema(ctx, db))
			require.NoError(t, EnsureSchema(ctx, db), "a second start changes nothing")

			enqueue(ctx, t, db, Envelope{ID: "e1", Subject: "s", Payload: wrapperspb.String("x")})
			var (
				id                int64
				eventID, subject  string
				headers           string
				payload           []byte
				createdAt, sentAt any
				attempts          int
				lastError         sql.NullString
			)
			require.NoError(t, db.QueryRowContext(ctx,
				"SELECT id, event_id, subject, payload, headers, created_at, sent_at, attempts, last_error FROM outbox").
				Scan(&id, &eventID, &subject, &payload, &headers, &createdAt, &sentAt, &attempts, &lastError))
			assert.Positive(t, id)
			assert.NotNil(t, createdAt)
			assert.Nil(t, sentAt)
			assert.Zero(t, attempts)
			assert.False(t, lastError.Valid)

			_, err := db.ExecContext(ctx, "INSERT INTO inbox (consumer, event_id) VALUES ('c', 'e1')")
			require.NoError(t, err)
			_, err = db.ExecContext(ctx, "INSERT INTO inbox (consumer, event_id) VALUES ('c', 'e1')")
			assert.True(t, store.IsUniqueViolation(err), "(consumer, event_id) is the key: %v", err)
			_, err = db.ExecContext(ctx, "INSERT INTO inbox (consumer, event_id) VALUES ('other', 'e1')")
			assert.NoError(t, err, "another consumer has its own inbox")
		})
	}
}

func TestEnqueue(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()

			t.Run("stores the payload, trace context and type", func(t *testing.T) {
				t.Parallel()
				db := openDB(t, d)
				tp := sdktrace.NewTracerProvider()
				ctx, span := tp.Tracer("test").Start(context.Background(), "request")
				defer span.End()

				enqueue(ctx, t, db, Envelope{ID: "e1", Subject: "slipway.order.placed", Payload: wrapperspb.String("hello")})

				var (
					subject, headers string
					payload          []byte
				)
				require.NoError(t, db.QueryRowContext(ctx,
					"SELECT subject, payload, headers FROM outbox WHERE event_id = 'e1'").Scan(&subject, &payload, &headers))
				assert.Equal(t, "slipway.order.placed", subject)
				var got wrapperspb.StringValue
				require.NoError(t, proto.Unmarshal(payload, &got))
				assert.Equal(t, "hello", got.GetValue())

				var h map[string]string
				require.NoError(t, json.Unmarshal([]byte(headers), &h))
				sc := span.SpanContext()
				assert.Equal(t, "00-"+sc.TraceID().String()+"-"+sc.SpanID().String()+"-01", h["traceparent"])
				assert.Equal(t, ContentTypeProtobuf, h[HeaderContentType])
				assert.Equal(t, "google.protobuf.StringValue", h[HeaderEventType])
			})

			t.Run("without a span stores no trace context", func(t *testing.T) {
				t.Parallel()
				db := openDB(t, d)
				ctx := context.Background()
				enqueue(ctx, t, db, Envelope{ID: "e1", Subject: "s", Payload: wrapperspb.String("x")})
				var headers string
				require.NoError(t, db.QueryRowContext(ctx, "SELECT headers FROM outbox").Scan(&headers))
				assert.NotContains(t, headers, "traceparent")
			})

			t.Run("commits only with the caller's transaction", func(t *testing.T) {
				t.Parallel()
				db := openDB(t, d)
				ctx := context.Background()
				errRollback := errors.New("business change failed")
				err := db.InTx(ctx, func(tx *sql.Tx) error {
					require.NoError(t, Enqueue(ctx, tx, Envelope{ID: "e1", Subject: "s", Payload: wrapperspb.String("x")}))
					return errRollback
				})
				require.ErrorIs(t, err, errRollback)
				assert.Zero(t, queryInt(t, db, "SELECT count(*) FROM outbox"))
			})

			t.Run("rejects a bad envelope and a repeated id", func(t *testing.T) {
				t.Parallel()
				db := openDB(t, d)
				ctx := context.Background()
				for name, e := range map[string]Envelope{
					"no id":      {Subject: "s", Payload: wrapperspb.String("x")},
					"no subject": {ID: "e", Payload: wrapperspb.String("x")},
					"no payload": {ID: "e", Subject: "s"},
				} {
					err := db.InTx(ctx, func(tx *sql.Tx) error { return Enqueue(ctx, tx, e) })
					assert.ErrorContains(t, err, "required", name)
				}
				assert.Error(t, Enqueue(ctx, nil, Envelope{ID: "e", Subject: "s", Payload: wrapperspb.String("x")}))

				enqueue(ctx, t, db, Envelope{ID: "e1", Subject: "s", Payload: wrapperspb.String("x")})
				err := db.InTx(ctx, func(tx *sql.Tx) error {
					return Enqueue(ctx, tx, Envelope{ID: "e1", Subject: "s", Payload: wrapperspb.String("y")})
				})
				assert.True(t, store.IsUniqueViolation(err), "a repeated event id: %v", err)
			})
		})
	}
}
