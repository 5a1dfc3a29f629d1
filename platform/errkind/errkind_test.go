package errkind_test

import (
	"errors"
	"fmt"
	"testing"

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
