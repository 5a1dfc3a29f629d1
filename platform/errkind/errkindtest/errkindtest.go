// Package errkindtest checks, in a domain's table tests, that a call failed
// with the kind of error the case names (an errkind.FieldError, or an
// errkind kind wrapped with context) or succeeded.
package errkindtest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/platform/errkind"
)

// AssertFieldError asserts that err is an errkind.Invalid FieldError about
// field.
func AssertFieldError(t testing.TB, err error, field string) {
	t.Helper()
	var fe *errkind.FieldError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, field, fe.Field)
	assert.ErrorIs(t, err, errkind.Invalid)
}

// WantSuccess checks err as a table case expects it: a FieldError about
// wantField when that is set, else an error that is wantErr and names each
// of names when wantErr is set, else no error. It reports whether the call
// was to succeed, so that the caller then checks what the call returned.
func WantSuccess(t testing.TB, err error, wantField string, wantErr error, names ...string) bool {
	t.Helper()
	switch {
	case wantField != "":
		AssertFieldError(t, err, wantField)
		return false
	case wantErr != nil:
		assert.ErrorIs(t, err, wantErr)
		for _, name := range names {
			assert.ErrorContains(t, err, name)
		}
		return false
	}
	require.NoError(t, err)
	return true
}
