package logtest_test

import (
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/slipway-dev/slipway/platform/telemetry"
	"github.com/slipway-dev/slipway/platform/telemetry/logtest"
)

func TestBufferTakesConcurrentWrites(t *testing.T) {
	var logs logtest.Buffer
	logger := telemetry.NewLogger(&logs, "test", slog.LevelInfo)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() { logger.Info("tick", "n", i) })
	}
	wg.Wait()

	assert.Equal(t, 20, logs.Count(`"msg":"tick"`))
	assert.Len(t, logs.Records(t), 20)
	assert.Len(t, logs.Messages("tick"), 20)
}

func TestBufferFindsRecordsByMessage(t *testing.T) {
	var logs logtest.Buffer
	fmt.Fprintln(&logs, "a dependency's plain line")
	logger := telemetry.NewLogger(&logs, "test", slog.LevelInfo)
	logger.Info("serving", "addr", "first")
	logger.Info("serving", "addr", "second", "err", strings.Repeat("x", 100<<10))

	line, ok := logs.Find("serving")
	assert.True(t, ok)
	assert.Equal(t, "first", line["addr"], "the oldest record")
	assert.Len(t, logs.Messages("serving"), 2, "a record longer than 64 KiB is read too")

	_, ok = logs.Find("stopped")
	assert.False(t, ok)
	assert.Empty(t, logs.Messages("stopped"))
}

// A record longer than any scanner's buffer (here 2 MiB) neither hides
// the records after it nor itself.
func TestMessagesReadsPastAVeryLongRecord(t *testing.T) {
	var logs logtest.Buffer
	logger := telemetry.NewLogger(&logs, "test", slog.LevelInfo)
	logger.Info("failed", "err", strings.Repeat("x", 2<<20))
	logger.Info("stopped")

	assert.Len(t, logs.Messages("failed"), 1)
	_, ok := logs.Find("stopped")
	assert.True(t, ok, "the record after the long one is found")
}

func TestRecordsFailsOnALineThatIsNotJSON(t *testing.T) {
	var logs logtest.Buffer
	fmt.Fprintln(&logs, "plain")
	inner := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		logs.Records(inner)
	}()
	<-done
	assert.True(t, inner.failed, "a line that is not JSON fails the test")
}

// recorder is a testing.TB that notes a failure instead of failing t.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) FailNow()              { runtime.Goexit() }
