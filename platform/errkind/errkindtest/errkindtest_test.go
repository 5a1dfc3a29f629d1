package errkindtest_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/slipway-dev/slipway/platform/errkind"
	"github.com/slipway-dev/slipway/platform/errkind/errkindtest"
)

func TestWantSuccess(t *testing.T) {
	notFound := fmt.Errorf("order o-1: %w", errkind.NotFound)
	tests := []struct {
		name      string
		err       error
		wantField string
		wantErr   error
		names     []string
		succeed   bool
		fails     bool
	}{
		{name: "no error was wanted", succeed: true},
		{name: "an error where none was wanted", err: notFound, fails: true},
		{name: "the field error wanted", err: fmt.Errorf("reserve: %w", errkind.Field("order_id", "required")), wantField: "order_id"},
		{name: "a field error about another field", err: errkind.Field("items", "required"), wantField: "order_id", fails: true},
		{name: "no field error where one was wanted", err: notFound, wantField: "order_id", fails: true},
		{name: "the kind wanted, naming the order", err: notFound, wantErr: errkind.NotFound, names: []string{"order o-1"}},
		{name: "the kind wanted, not naming the order", err: notFound, wantErr: errkind.NotFound, names: []string{"order o-2"}, fails: true},
		{name: "another kind", err: notFound, wantErr: errkind.Conflict, fails: true},
		{name: "success where an error was wanted", wantErr: errkind.NotFound, fails: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{TB: t}
			var got bool
			done := make(chan struct{})
			go func() {
				defer close(done)
				got = errkindtest.WantSuccess(r, tt.err, tt.wantField, tt.wantErr, tt.names...)
			}()
			<-done
			assert.Equal(t, tt.fails, r.failed, "whether the check fails")
			if !tt.fails {
				assert.Equal(t, tt.succeed, got, "whether the call was to succeed")
			}
		})
	}
}

// recorder is a testing.TB that notes a failure instead of failing t.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) FailNow()              { r.failed = true; runtime.Goexit() }
