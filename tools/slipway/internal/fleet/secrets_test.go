package fleet

import (
	"maps"
	"slices"
	"testing"

	"github.com/slipway-dev/slipway/tools/slipway/internal/envvar"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// secretsIn lists the secret settings env holds, sorted.
func secretsIn(env []string) []string {
	var got []string
	for _, k := range slices.Sorted(maps.Keys(secretOwners)) {
		if _, ok := envvar.Lookup(env, k); ok {
			got = append(got, k)
		}
	}
	return got
}

// Each service's process gets only its own secrets, as in k8s where each
// Deployment mounts only its own Secret: from dev's defaults, from the
// parent environment and from SLIPWAY_<SVC>_ variables alike.
func TestPlanDevGivesEachServiceOnlyItsOwnSecrets(t *testing.T) {
	parent := []string{
		"PATH=/bin",
		// An operator exporting every secret in one shell must not hand them
		// all to every process.
		"ADMIN_PASSWORD=from-the-shell",
		"NOTIFY_WEBHOOK_URL=https://hooks.example/T0/secret-path",
		"AUTH_SIGNING_KEY=pem-from-the-shell",
		"EVENTS_SIGNING_KEY=ed25519-from-the-shell",
		"STRIPE_API_KEY=sk_test_from-the-shell",
		"STRIPE_WEBHOOK_SECRET=whsec_from-the-shell",
		// Nor does a per-service variable reach past its service's owners.
		"SLIPWAY_INVENTORY_SERVICE_ACCOUNT_PASSWORD=sneaked-in",
	}
	tests := []struct {
		name string
		tls  bool
		want map[string][]string
	}{
		{
			name: "plaintext",
			want: map[string][]string{
				"user":         {"ADMIN_EMAIL", "ADMIN_PASSWORD", "AUTH_SIGNING_KEY", "AUTH_SIGNING_KEY_FILE", "SERVICE_ACCOUNTS"},
				"order":        {"EVENTS_SIGNING_KEY", "SERVICE_ACCOUNT_PASSWORD"},
				"inventory":    nil,
				"notification": {"NOTIFY_WEBHOOK_URL"},
				"payment":      {"STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET"},
			},
		},
		{
			name: "mTLS: a certificate is a service's identity, no password account at all",
			tls:  true,
			want: map[string][]string{
				"user":         {"ADMIN_EMAIL", "ADMIN_PASSWORD", "AUTH_SIGNING_KEY", "AUTH_SIGNING_KEY_FILE"},
				"order":        {"EVENTS_SIGNING_KEY"},
				"inventory":    nil,
				"notification": {"NOTIFY_WEBHOOK_URL"},
				"payment":      {"STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := Options{Environ: parent, TLS: tt.tls, ConsolePort: 8080}.WithDefaults()
			plan, err := Plan("/ws", workspace.Known, opts)
			require.NoError(t, err)
			require.Len(t, plan, len(workspace.Known))
			for _, s := range plan {
				assert.Equal(t, tt.want[s.Name], secretsIn(s.Env), "%s's secrets", s.Name)
			}
			byName := map[string]Service{}
			for _, s := range plan {
				byName[s.Name] = s
			}
			assert.Equal(t, "from-the-shell", EnvValue(byName["user"].Env, "ADMIN_PASSWORD"), "the parent's value still reaches its owner")
			assert.Equal(t, "sk_test_from-the-shell", EnvValue(byName["payment"].Env, "STRIPE_API_KEY"), "payment keeps the provider's key")
			if !tt.tls {
				secret := EnvValue(byName["order"].Env, "SERVICE_ACCOUNT_PASSWORD")
				assert.Len(t, secret, 24, "order's own password, made afresh for the session")
				assert.Equal(t, "order:"+secret, EnvValue(byName["user"].Env, "SERVICE_ACCOUNTS"), "user creates the account order logs in with")
			}
		})
	}
}

// The filter drops what is not the service's own and keeps everything else.
func TestOwnSecretsOnly(t *testing.T) {
	env := []string{"PATH=/bin", "ADMIN_PASSWORD=a", "SERVICE_ACCOUNT_PASSWORD=b", "SERVICE_ACCOUNTS=order:b", "LOG_LEVEL=debug"}
	assert.Equal(t, []string{"PATH=/bin", "LOG_LEVEL=debug"}, OwnSecretsOnly(slices.Clone(env), "inventory", false))
	assert.Equal(t, []string{"PATH=/bin", "SERVICE_ACCOUNT_PASSWORD=b", "LOG_LEVEL=debug"}, OwnSecretsOnly(slices.Clone(env), "order", false))
	assert.Equal(t, []string{"PATH=/bin", "LOG_LEVEL=debug"}, OwnSecretsOnly(slices.Clone(env), "order", true))
	assert.Equal(t, []string{"PATH=/bin", "ADMIN_PASSWORD=a", "LOG_LEVEL=debug"}, OwnSecretsOnly(slices.Clone(env), "user", true))
}
