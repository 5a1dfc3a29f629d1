package server

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecodeTimeout(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{in: "100m", want: 100 * time.Millisecond},
		{in: "5S", want: 5 * time.Second},
		{in: "1H", want: time.Hour},
		{in: "2M", want: 2 * time.Minute},
		{in: "7u", want: 7 * time.Microsecond},
		{in: "9n", want: 9 * time.Nanosecond},
		{in: "99999999H", want: time.Duration(math.MaxInt64)}, // clamped, not overflowed
		{in: "5", err: true},
		{in: "123456789S", err: true},
		{in: "10x", err: true},
		{in: "-1S", err: true},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got, err := decodeTimeout(tt.in)
			if tt.err {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestEncodeGrpcMessage(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"plain message", "plain message"},
		{"100% gone", "100%25 gone"},
		{"line\nbreak", "line%0Abreak"},
		{"café", "caf%C3%A9"},
		{"bad \xff byte", "bad %EF%BF%BD byte"}, // invalid UTF-8 is sent as U+FFFD, as grpc-go does
	} {
		assert.Equal(t, tt.want, encodeGrpcMessage(tt.in), "%q", tt.in)
	}
}

func TestMetadataHeaderRoundTrip(t *testing.T) {
	encoded := encodeMetadataHeader("trace-bin", "\x00\x01binary")
	decoded, err := decodeMetadataHeader("trace-bin", encoded)
	require.NoError(t, err)
	assert.Equal(t, "\x00\x01binary", decoded)
	padded, err := decodeMetadataHeader("trace-bin", "AAFiaW5hcnk=")
	require.NoError(t, err)
	assert.Equal(t, "\x00\x01binary", padded, "padded base64 is read too")
	_, err = decodeMetadataHeader("trace-bin", "not base64!")
	assert.Error(t, err)
	plain, err := decodeMetadataHeader("x-request-id", "not base64!")
	require.NoError(t, err)
	assert.Equal(t, "not base64!", plain, "only -bin keys are binary")
}
