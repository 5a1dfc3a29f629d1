package deploy

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// optionalSecretEnv are secret variables a deployment may leave out, and why.
var optionalSecretEnv = map[string]string{
	"ADMIN_PASSWORD":     "the admin account is optional (with admin_email)",
	"NOTIFY_WEBHOOK_URL": "without it notifications are in-app only",
	// payment_provider stripe refuses to start without it (config.Validate),
	// and the sandbox needs none.
	"STRIPE_API_KEY":        "only the stripe provider needs it, and refuses to start without it",
	"STRIPE_WEBHOOK_SECRET": "without it POST /webhooks/stripe is off",
}

// The event signature keys: the producer's private seed and the consumers'
// list of its public keys (platform/events/sign.go).
const (
	eventSigningEnv  = "EVENTS_SIGNING_KEY"
	eventProducerEnv = "EVENTS_PRODUCER_KEYS"
)

// requiredSecretEnv are the variables the pods of svc must take from its
// Secret: every key its config tags secret:"true", DATABASE_URL, the NATS
// user beside its password, and the producers' public event keys (not
// secret, but kept with the private half so both change together). Password
// service accounts only where TLS is off; optionalSecretEnv not at all.
func requiredSecretEnv(f k8sFacts, svc string) []string {
	s := f.services[svc]
	var out []string
	for _, e := range f.secretEnvs[svc] {
		if _, optional := optionalSecretEnv[e]; optional {
			continue
		}
		if slices.Contains(passwordAccountEnv, e) && declaredTLS(f.declared[svc]) {
			continue
		}
		out = append(out, e)
	}
	for _, e := range []string{"NATS_USER", eventProducerEnv} {
		if s.Env[e] {
			out = append(out, e)
		}
	}
	slices.Sort(out)
	return out
}

// checkSecretCoverage returns every variable of requiredSecretEnv that a
// service's pods do not get from a Secret, or get only optionally (a pod
// without it would start, and run without the protection).
func checkSecretCoverage(r *k8sRender, f k8sFacts) []string {
	var problems []string
	for _, svc := range sortedNames(f.services) {
		d, ok := find[*appsv1.Deployment](r, "Deployment", svc)
		if !ok {
			problems = append(problems, "no Deployment "+svc)
			continue
		}
		refs := map[string]*corev1.SecretKeySelector{}
		for _, e := range containerEnv(container(&d.Spec.Template.Spec, svc)) {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				refs[e.Name] = e.ValueFrom.SecretKeyRef
			}
		}
		for _, key := range requiredSecretEnv(f, svc) {
			switch ref := refs[key]; {
			case ref == nil:
				problems = append(problems, fmt.Sprintf("%s %s: services/%s needs %s, and no pod gets it from Secret %s-secrets", r.env, svc, svc, key, svc))
			case isTrue(ref.Optional):
				problems = append(problems, fmt.Sprintf("%s %s: %s from Secret %s is optional: a pod without it starts and runs unprotected", r.env, svc, key, ref.Name))
			}
		}
	}
	return problems
}

// podEnv is the environment of the pods of each service of r: literal
// values, and the values of the Secrets the overlay renders.
func podEnv(r *k8sRender, services map[string]service) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, svc := range sortedNames(services) {
		d, ok := find[*appsv1.Deployment](r, "Deployment", svc)
		if !ok {
			continue
		}
		out[svc] = map[string]string{}
		for _, e := range containerEnv(container(&d.Spec.Template.Spec, svc)) {
			switch {
			case e.ValueFrom == nil:
				out[svc][e.Name] = e.Value
			case e.ValueFrom.SecretKeyRef != nil:
				ref := e.ValueFrom.SecretKeyRef
				if s, ok := find[*corev1.Secret](r, "Secret", ref.Name); ok {
					if v, ok := s.Data[ref.Key]; ok {
						out[svc][e.Name] = string(v)
					} else if v, ok := s.StringData[ref.Key]; ok {
						out[svc][e.Name] = v
					}
				}
			}
		}
	}
	return out
}

// checkEventKeys returns what stops the consumers from verifying the
// producers' events, given each service's environment: a producer without
// a signing key or with one that is not a base64 Ed25519 seed, a consumer
// without producer keys, or whose keys of a producer do not include the
// public half of that producer's seed (then every event is dead-lettered).
// Other keys of a producer beside the matching one are fine: that is a
// rotation.
func checkEventKeys(env map[string]map[string]string, services map[string]service) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	public := map[string]ed25519.PublicKey{}
	for _, svc := range sortedNames(services) {
		if !services[svc].Env[eventSigningEnv] {
			continue
		}
		raw := strings.TrimSpace(env[svc][eventSigningEnv])
		seed, err := base64.StdEncoding.DecodeString(raw)
		switch {
		case raw == "":
			bad("%s signs no events: %s is not set", svc, eventSigningEnv)
		case err != nil || len(seed) != ed25519.SeedSize:
			bad("%s's %s is not the standard base64 of a 32-byte Ed25519 seed", svc, eventSigningEnv)
		default:
			public[svc] = ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
		}
	}
	if len(public) == 0 && len(problems) == 0 {
		return []string{"no service's config reads " + eventSigningEnv}
	}
	for _, svc := range sortedNames(services) {
		if !services[svc].Env[eventProducerEnv] {
			continue
		}
		raw := strings.TrimSpace(env[svc][eventProducerEnv])
		if raw == "" {
			bad("%s verifies no event signature: %s is not set", svc, eventProducerEnv)
			continue
		}
		keys := map[string][]ed25519.PublicKey{}
		for entry := range strings.SplitSeq(raw, ",") {
			producer, b64, ok := strings.Cut(strings.TrimSpace(entry), ":")
			k, err := base64.StdEncoding.DecodeString(b64)
			if !ok || err != nil || len(k) != ed25519.PublicKeySize {
				bad("%s's %s: entry %q is not producer:<base64 Ed25519 public key>", svc, eventProducerEnv, entry)
				continue
			}
			keys[producer] = append(keys[producer], ed25519.PublicKey(k))
		}
		for _, producer := range sortedNames(keys) {
			if _, ok := services[producer]; !ok || !services[producer].Env[eventSigningEnv] {
				bad("%s's %s names %q, which signs no events", svc, eventProducerEnv, producer)
			}
		}
		for _, producer := range sortedNames(public) {
			if !slices.ContainsFunc(keys[producer], func(k ed25519.PublicKey) bool { return k.Equal(public[producer]) }) {
				bad("%s's %s holds no key of %s that matches %s's %s: every event of %s would be dead-lettered",
					svc, eventProducerEnv, producer, producer, eventSigningEnv, producer)
			}
		}
	}
	return problems
}

// TestKubernetesSecretsCoverConfig: in every overlay, each service's pods
// get every secret its config declares (and the public event keys) from its
// Secret, not optionally; prod's operator list (TestKubernetesProdHasNoSecrets)
// then names each of them.
func TestKubernetesSecretsCoverConfig(t *testing.T) {
	for _, r := range renderedOverlays(t) {
		t.Run(r.env, func(t *testing.T) {
			assert.Empty(t, checkSecretCoverage(r, readK8sFacts(t, r.env)))
		})
	}

	// The list is read from the config structs: the event keys are in it.
	f := readK8sFacts(t, "prod")
	assert.Contains(t, requiredSecretEnv(f, "order"), eventSigningEnv)
	assert.Contains(t, requiredSecretEnv(f, "order"), "CONFIG_FINGERPRINT_KEY")
	assert.NotContains(t, requiredSecretEnv(f, "order"), "SERVICE_ACCOUNT_PASSWORD", "prod runs TLS")
	for _, svc := range []string{"inventory", "notification"} {
		assert.Contains(t, requiredSecretEnv(f, svc), eventProducerEnv, svc)
		assert.Contains(t, requiredSecretEnv(f, svc), "NATS_PASSWORD", svc)
	}
	assert.Contains(t, requiredSecretEnv(readK8sFacts(t, "dev"), "order"), "SERVICE_ACCOUNT_PASSWORD", "dev is plaintext")

	root := repoRoot(t)
	tests := []struct {
		name   string
		mutate func(r *k8sRender)
		want   string
	}{
		{"order signs nothing", func(r *k8sRender) { dropEnv(r, "order", eventSigningEnv) },
			"prod order: services/order needs EVENTS_SIGNING_KEY"},
		{"notification checks nothing", func(r *k8sRender) { dropEnv(r, "notification", eventProducerEnv) },
			"prod notification: services/notification needs EVENTS_PRODUCER_KEYS"},
		{"optional producer keys", func(r *k8sRender) {
			for i, e := range deployment(r, "inventory").Spec.Template.Spec.Containers[0].Env {
				if e.Name == eventProducerEnv {
					optional := true
					deployment(r, "inventory").Spec.Template.Spec.Containers[0].Env[i].ValueFrom.SecretKeyRef.Optional = &optional
				}
			}
		}, "prod inventory: EVENTS_PRODUCER_KEYS from Secret inventory-secrets is optional"},
		{"no fingerprint key", func(r *k8sRender) { dropEnv(r, "user", "CONFIG_FINGERPRINT_KEY") },
			"prod user: services/user needs CONFIG_FINGERPRINT_KEY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := renderOverlay(filepath.Join(root, k8sOverlays, "prod"))
			require.NoError(t, err)
			tt.mutate(r)
			problems := checkSecretCoverage(r, f)
			assert.True(t, slices.ContainsFunc(problems, func(s string) bool { return strings.Contains(s, tt.want) }),
				"want a problem containing %q, got %q", tt.want, problems)
		})
	}
}

// TestEventKeysMatch: the dev overlay's Secrets and compose give order a
// signing seed and inventory and notification its public key, so the
// development systems verify every event; a mismatch, which would
// dead-letter every event, is caught.
func TestEventKeysMatch(t *testing.T) {
	root := repoRoot(t)
	services := slipwayServices(t)
	dev, err := renderOverlay(filepath.Join(root, k8sOverlays, "dev"))
	require.NoError(t, err)
	assert.Empty(t, checkEventKeys(podEnv(dev, services), services), "dev overlay")

	dir := filepath.Join(root, composeDir)
	for _, cfg := range composeConfigs {
		t.Run("compose "+cfg.name, func(t *testing.T) {
			assert.Empty(t, checkEventKeys(slipwayEnv(loadCompose(t, dir, cfg.files, cfg.env)), services))
		})
	}

	otherPub, otherPriv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	otherKey := "order:" + base64.StdEncoding.EncodeToString(otherPub)
	good := podEnv(dev, services)
	tests := []struct {
		name   string
		mutate func(env map[string]map[string]string)
		want   string // "" for no problem
	}{
		{"a rotation: the new key first, then the old", func(env map[string]map[string]string) {
			env["inventory"][eventProducerEnv] = otherKey + "," + env["inventory"][eventProducerEnv]
		}, ""},
		{"another keypair's public key", func(env map[string]map[string]string) {
			env["notification"][eventProducerEnv] = otherKey
		}, "notification's EVENTS_PRODUCER_KEYS holds no key of order that matches order's EVENTS_SIGNING_KEY"},
		{"no producer keys", func(env map[string]map[string]string) { delete(env["inventory"], eventProducerEnv) },
			"inventory verifies no event signature"},
		{"no signing key", func(env map[string]map[string]string) { delete(env["order"], eventSigningEnv) },
			"order signs no events"},
		{"a 16-byte seed", func(env map[string]map[string]string) {
			env["order"][eventSigningEnv] = base64.StdEncoding.EncodeToString(make([]byte, 16))
		}, "is not the standard base64 of a 32-byte Ed25519 seed"},
		{"a key of a service that publishes nothing", func(env map[string]map[string]string) {
			env["inventory"][eventProducerEnv] += ",inventory:" + base64.StdEncoding.EncodeToString(otherPub)
		}, `names "inventory", which signs no events`},
		{"the seed where the public key belongs", func(env map[string]map[string]string) {
			env["notification"][eventProducerEnv] = "order:" + env["order"][eventSigningEnv]
		}, "notification's EVENTS_PRODUCER_KEYS holds no key of order"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]map[string]string{}
			for svc, vars := range good {
				env[svc] = map[string]string{}
				for k, v := range vars {
					env[svc][k] = v
				}
			}
			tt.mutate(env)
			problems := checkEventKeys(env, services)
			if tt.want == "" {
				assert.Empty(t, problems)
				return
			}
			assert.True(t, slices.ContainsFunc(problems, func(s string) bool { return strings.Contains(s, tt.want) }),
				"want a problem containing %q, got %q", tt.want, problems)
		})
	}

	// Overriding only the signing key in compose's .env is caught.
	p := loadCompose(t, dir, []string{composeFile}, map[string]string{eventSigningEnv: base64.StdEncoding.EncodeToString(otherPriv.Seed())})
	problems := checkEventKeys(slipwayEnv(p), services)
	assert.Len(t, problems, 2, "inventory and notification: %q", problems)
}

// dropEnv removes variable name from the container of Deployment svc.
func dropEnv(r *k8sRender, svc, name string) {
	c := container(&deployment(r, svc).Spec.Template.Spec, svc)
	c.Env = slices.DeleteFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == name })
}
