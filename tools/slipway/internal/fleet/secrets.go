package fleet

import (
	"slices"
	"strings"
)

// secretOwners names, for each secret setting dev knows, the services whose
// process may hold it, as each k8s Deployment mounts only its own Secret. A
// child's environment loses every other service's secrets, whether they
// came from dev's defaults, the parent environment or a SLIPWAY_<SVC>_
// variable, so a compromised inventory process cannot read the admin
// password, the order service's account or the payment provider's keys.
var secretOwners = map[string][]string{
	"ADMIN_EMAIL":              {"user"}, // not secret, but only user seeds the admin
	"ADMIN_PASSWORD":           {"user"},
	"AUTH_SIGNING_KEY":         {"user"},
	"AUTH_SIGNING_KEY_FILE":    {"user"},
	"SERVICE_ACCOUNTS":         {"user"},
	"SERVICE_ACCOUNT_PASSWORD": {"order"},
	"NOTIFY_WEBHOOK_URL":       {"notification"},
	"EVENTS_SIGNING_KEY":       {"order"}, // only order publishes events
	"STRIPE_API_KEY":           {"payment"},
	"STRIPE_WEBHOOK_SECRET":    {"payment"},
}

// passwordAccounts are the settings of password service accounts. Under
// mTLS a service's certificate is its identity, so dev --tls gives them to
// no one.
var passwordAccounts = []string{"SERVICE_ACCOUNTS", "SERVICE_ACCOUNT_PASSWORD"}

// OwnSecretsOnly returns env without the secrets svc does not own (and,
// with mTLS, without any password account).
func OwnSecretsOnly(env []string, svc string, mtls bool) []string {
	return slices.DeleteFunc(env, func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		owners, secret := secretOwners[k]
		if !secret {
			return false
		}
		return !slices.Contains(owners, svc) || (mtls && slices.Contains(passwordAccounts, k))
	})
}
