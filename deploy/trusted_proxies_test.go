package deploy

import (
	"bytes"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// trustedProxiesKey is the user service's list of proxies whose
// X-Forwarded-For names the client of Login and Register (their limits).
const trustedProxiesKey = "auth_trusted_proxies"

// trustedProxies parses the user service's trusted proxies in r: the
// declared value, or AUTH_TRUSTED_PROXIES in the pod's environment.
func trustedProxies(r *k8sRender, f k8sFacts) ([]netip.Prefix, error) {
	raw := declaredString(f.declared["user"], trustedProxiesKey)
	for _, e := range containerEnv(container(&deployment(r, "user").Spec.Template.Spec, "user")) {
		if e.Name == "AUTH_TRUSTED_PROXIES" && e.ValueFrom == nil {
			raw = e.Value
		}
	}
	var out []netip.Prefix
	for entry := range strings.SplitSeq(raw, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		if p, err := netip.ParsePrefix(entry); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(entry)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %q is neither an IP nor a CIDR", trustedProxiesKey, raw, entry)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// checkTrustedProxies returns what is wrong with the user service's trusted
// proxies on the overlay's NetworkPolicy model: a trusted address that
// reaches user's ports but is neither the ingress controller, Prometheus
// nor a slipway service (it could name any client in X-Forwarded-For and
// spread its password guesses over invented addresses); and, where a
// NetworkPolicy lets the ingress controller in, an ingress controller that
// is not trusted (every client behind it would share one budget).
func checkTrustedProxies(r *k8sRender, f k8sFacts) []string {
	prefixes, err := trustedProxies(r, f)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	c := newCluster(r, f)
	trusted := func(e *npEndpoint) bool {
		a, ok := netip.AddrFromSlice(e.ip)
		return ok && slices.ContainsFunc(prefixes, func(p netip.Prefix) bool { return p.Contains(a.Unmap()) })
	}
	mayForward := []string{"ingress-nginx", "prometheus"}
	for svc := range f.services {
		mayForward = append(mayForward, "pod "+svc)
	}
	user := c.endpoint("pod user")
	for _, e := range c.endpoints {
		if e == user || !trusted(e) || slices.Contains(mayForward, e.name) {
			continue
		}
		for _, p := range user.ports {
			if c.allowed(e, user, p) {
				problems = append(problems, fmt.Sprintf("%s (%s) is in %s and may open user's %s port: it could write any client into X-Forwarded-For",
					e.name, e.ip, trustedProxiesKey, p.name))
			}
		}
	}
	ingress := c.endpoint("ingress-nginx")
	if len(c.policies) > 0 && c.allowed(ingress, user, user.port("http")) && !trusted(ingress) {
		problems = append(problems, fmt.Sprintf("the ingress controller (%s) reaches user but is not in %s %v: every client behind it shares one Login budget",
			ingress.ip, trustedProxiesKey, prefixes))
	}
	return problems
}

// TestKubernetesTrustedProxies: prod trusts the X-Forwarded-For of the
// ingress controller, and of nothing else the NetworkPolicy lets reach the
// user service; dev, with no NetworkPolicy, trusts nothing.
func TestKubernetesTrustedProxies(t *testing.T) {
	root := repoRoot(t)
	for _, r := range renderedOverlays(t) {
		t.Run(r.env, func(t *testing.T) {
			assert.Empty(t, checkTrustedProxies(r, readK8sFacts(t, r.env)))
		})
	}

	prodFacts := readK8sFacts(t, "prod")
	prod, err := renderOverlay(filepath.Join(root, k8sOverlays, "prod"))
	require.NoError(t, err)
	prefixes, err := trustedProxies(prod, prodFacts)
	require.NoError(t, err)
	assert.NotEmpty(t, prefixes, "prod declares %s", trustedProxiesKey)

	tests := []struct {
		name   string
		env    string
		mutate func(r *k8sRender, f *k8sFacts)
		want   string
	}{
		{"the ingress's port open to every namespace", "prod", func(r *k8sRender, _ *k8sFacts) {
			p := policy(r, "http-from-ingress-and-prometheus")
			p.Spec.Ingress[0].From = []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{}}}
		}, "another team's app (10.244.50.17) is in auth_trusted_proxies and may open user's http port"},
		{"no NetworkPolicy for user", "prod", func(r *k8sRender, _ *k8sFacts) {
			removePolicy(r, "default-deny")
			removePolicy(r, "user")
			removePolicy(r, "http-from-ingress-and-prometheus")
		}, "a debug pod in the namespace (10.244.1.99) is in auth_trusted_proxies and may open user's grpc port"},
		{"no trusted proxy behind the ingress", "prod", func(_ *k8sRender, f *k8sFacts) {
			f.declared["user"] = setDeclared(f.declared["user"], trustedProxiesKey, `""`)
		}, "the ingress controller (10.244.50.11) reaches user but is not in auth_trusted_proxies"},
		{"the environment overrides the file", "prod", func(r *k8sRender, _ *k8sFacts) {
			c := container(&deployment(r, "user").Spec.Template.Spec, "user")
			c.Env = append(c.Env, corev1.EnvVar{Name: "AUTH_TRUSTED_PROXIES", Value: "192.0.2.1"})
		}, "the ingress controller (10.244.50.11) reaches user but is not in auth_trusted_proxies"},
		{"dev trusts the pod network", "dev", func(_ *k8sRender, f *k8sFacts) {
			f.declared["user"] = setDeclared(f.declared["user"], trustedProxiesKey, "10.244.0.0/16")
		}, "another team's app (10.244.50.17) is in auth_trusted_proxies"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := renderOverlay(filepath.Join(root, k8sOverlays, tt.env))
			require.NoError(t, err)
			f := readK8sFacts(t, tt.env)
			tt.mutate(r, &f)
			problems := checkTrustedProxies(r, f)
			assert.True(t, slices.ContainsFunc(problems, func(s string) bool { return strings.Contains(s, tt.want) }),
				"want a problem containing %q, got %q", tt.want, problems)
		})
	}
}

// setDeclared replaces the line "key: ..." of a declared file.
func setDeclared(data []byte, key, value string) []byte {
	var out [][]byte
	for line := range bytes.Lines(data) {
		if bytes.HasPrefix(line, []byte(key+":")) {
			line = []byte(key + ": " + value + "\n")
		}
		out = append(out, line)
	}
	return bytes.Join(out, nil)
}
