package configtest_test

import (
	"errors"
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/slipway-dev/slipway/platform/config"
	"github.com/slipway-dev/slipway/platform/config/configtest"
	"github.com/slipway-dev/slipway/platform/events"
)

func TestEveryEnvVarHasHelp(t *testing.T) {
	type documented struct {
		Addr string `env:"ADDR" help:"host:port to listen on"`
	}
	type undocumented struct {
		Addr  string `env:"ADDR" help:"host:port to listen on"`
		Level string `env:"LEVEL"`
	}

	configtest.EveryEnvVarHasHelp(t, &documented{})
	failures := run(t, func(tb testing.TB) { configtest.EveryEnvVarHasHelp(tb, &undocumented{}) })
	assert.Contains(t, failures, "LEVEL has no help tag")
}

// consumer is a service config that reads an event consumer's keys.
type consumer struct {
	events.ConsumerSettings `yaml:",inline"`
}

func loadConsumer(getenv func(string) string) (events.ConsumerSettings, error) {
	c := &consumer{ConsumerSettings: events.DefaultConsumerSettings()}
	if err := config.Load(c, "", getenv); err != nil {
		return events.ConsumerSettings{}, err
	}
	return c.ConsumerSettings, c.Validate("order")
}

func TestConsumerSettings(t *testing.T) {
	configtest.ConsumerSettings(t, "inventory", loadConsumer)

	tests := map[string]func(func(string) string) (events.ConsumerSettings, error){
		"a service that reads no consumer keys": func(func(string) string) (events.ConsumerSettings, error) {
			return events.DefaultConsumerSettings(), nil
		},
		"a service that refuses valid keys": func(func(string) string) (events.ConsumerSettings, error) {
			return events.ConsumerSettings{}, errors.New("refused")
		},
	}
	for name, load := range tests {
		t.Run(name, func(t *testing.T) {
			assert.NotEmpty(t, run(t, func(tb testing.TB) { configtest.ConsumerSettings(tb, "inventory", load) }), "fails the check")
		})
	}
}

// run runs check on a testing.TB that records its failures instead of
// reporting them to t, and returns them.
func run(t *testing.T, check func(testing.TB)) string {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		check(r)
	}()
	<-done
	return r.failures
}

// recorder is a testing.TB that keeps the failures reported to it.
type recorder struct {
	testing.TB
	failures string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.failures += fmt.Sprintf(format, args...) + "\n"
}
func (r *recorder) FailNow() { runtime.Goexit() }
