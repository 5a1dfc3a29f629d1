package errkind_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/slipway-dev/slipway/platform/errkind"
)

func TestFieldErrorIsInvalidAndNamesTheField(t *testing.T) {
	err := fmt.Errorf("register: %w", errkind.Field("email", "already taken"))

	assert.ErrorIs(t, err, errkind.Invalid)
	assert.NotErrorIs(t, err, errkind.NotFound)
	var fe *errkind.FieldError
	if assert.True(t, errors.As(err, &fe)) {
		assert.Equal(t, "email", fe.Field)
		assert.Equal(t, "already taken", fe.Description)
	}
	assert.Equal(t, "register: invalid email: already taken", err.Error())
}

func TestRetryAfterIsResourceExhaustedAndKeepsTheWait(t *testing.T) {
	err := fmt.Errorf("create order: %w", errkind.RetryAfter("rate limit of 5 orders per second reached", 1500*time.Millisecond))

	assert.ErrorIs(t, err, errkind.ResourceExhausted)
	assert.NotErrorIs(t, err, errkind.Unavailable)
	var ra *errkind.RetryAfterError
	if assert.True(t, errors.As(err, &ra)) {
		assert.Equal(t, 1500*time.Millisecond, ra.After)
	}
	assert.Equal(t, "create order: rate limit of 5 orders per second reached: retry after 1.5s", err.Error())
}

func TestUnreachableIsUnavailableAndKeepsItsCause(t *testing.T) {
	cause := errors.New("dial tcp 10.0.0.7:5432: connect: connection refused")
	err := fmt.Errorf("get order o1: %w", errkind.Unreachable("database", time.Second, cause))

	assert.ErrorIs(t, err, errkind.Unavailable)
	assert.ErrorIs(t, err, cause, "the cause stays in the chain for the logs")
	var de *errkind.DependencyError
	if assert.True(t, errors.As(err, &de)) {
		assert.Equal(t, "database", de.Dependency)
		assert.Equal(t, time.Second, de.After)
	}
	assert.Equal(t, "get order o1: database unavailable: dial tcp 10.0.0.7:5432: connect: connection refused", err.Error())
}
