package events

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCheckURLAndMaskURL(t *testing.T) {
	for s, want := range map[string]string{
		"nats://127.0.0.1:4222":        "",
		"nats://a:4222, tls://b:4222":  "",
		"":                             "must not be empty",
		"http://a:4222":                "want nats://host:port (comma separated for a cluster)",
		"nats://":                      "want nats://host:port (comma separated for a cluster)",
		"nats://a:4222,127.0.0.1:4222": "want nats://host:port (comma separated for a cluster)",
	} {
		assert.Equal(t, want, CheckURL(s), s)
	}
	masked := MaskURL("nats://app:s3cret@a:4222,nats://b:4222")
	assert.NotContains(t, masked, "s3cret")
	assert.Equal(t, "nats://xxxxx@a:4222,nats://b:4222", masked)
}
