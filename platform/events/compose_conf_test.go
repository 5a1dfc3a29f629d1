package events_test

import (
	"path/filepath"
	"runtime"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	apievents "github.com/slipway-dev/slipway/api/events"
)

// TestComposeNATSConfigGrantsExactlyTheAccesses loads deploy/compose's
// nats-server.conf as nats-server itself does and compares every user's
// allow lists with api/events' Accesses, so that the compose broker can
// neither grant more than the matrix (a consumer defining ORDERS) nor drift
// behind it when the matrix changes.
func TestComposeNATSConfigGrantsExactlyTheAccesses(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	conf := filepath.Join(filepath.Dir(file), "..", "..", "deploy", "compose", "nats", "nats-server.conf")
	for _, a := range apievents.Accesses {
		t.Setenv("NATS_"+upper(a.User)+"_PASSWORD", a.User+"-password")
	}
	opts, err := server.ProcessConfigFile(conf)
	require.NoError(t, err, "nats-server cannot load %s", conf)

	users := map[string]*server.User{}
	for _, u := range opts.Users {
		users[u.Username] = u
	}
	require.Len(t, users, len(apievents.Accesses), "one user per service, and no other")
	for _, a := range apievents.Accesses {
		t.Run(a.User, func(t *testing.T) {
			u, ok := users[a.User]
			require.True(t, ok, "no user %q in %s", a.User, conf)
			require.NotNil(t, u.Permissions)
			publish, subscribe := a.Permissions()
			require.NotNil(t, u.Permissions.Publish)
			require.NotNil(t, u.Permissions.Subscribe)
			assert.ElementsMatch(t, publish, u.Permissions.Publish.Allow, "publish allow list")
			assert.Empty(t, u.Permissions.Publish.Deny)
			assert.ElementsMatch(t, subscribe, u.Permissions.Subscribe.Allow, "subscribe allow list")
			assert.Equal(t, a.User+"-password", u.Password, "the password comes from NATS_%s_PASSWORD", upper(a.User))
		})
	}
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
