package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// cert-manager's types are not in k8s.io/api and its module graph is large,
// so the kinds the prod overlay uses are decoded into these local structs: a
// subset of cert-manager.io/v1 with cert-manager's JSON names. A field the
// subset does not know fails the strict decode; add it here (as cert-manager
// names it) when a manifest starts using it.

type certManagerIssuerRef struct {
	Name  string `json:"name"`
	Kind  string `json:"kind,omitempty"`
	Group string `json:"group,omitempty"`
}

type certManagerCertificate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		SecretName     string `json:"secretName"`
		SecretTemplate *struct {
			Labels      map[string]string `json:"labels,omitempty"`
			Annotations map[string]string `json:"annotations,omitempty"`
		} `json:"secretTemplate,omitempty"`
		CommonName  string `json:"commonName,omitempty"`
		IsCA        bool   `json:"isCA,omitempty"`
		Duration    string `json:"duration,omitempty"`
		RenewBefore string `json:"renewBefore,omitempty"`
		PrivateKey  *struct {
			Algorithm      string `json:"algorithm,omitempty"`
			Size           int    `json:"size,omitempty"`
			Encoding       string `json:"encoding,omitempty"`
			RotationPolicy string `json:"rotationPolicy,omitempty"`
		} `json:"privateKey,omitempty"`
		URIs        []string             `json:"uris,omitempty"`
		DNSNames    []string             `json:"dnsNames,omitempty"`
		IPAddresses []string             `json:"ipAddresses,omitempty"`
		Usages      []string             `json:"usages,omitempty"`
		IssuerRef   certManagerIssuerRef `json:"issuerRef"`
	} `json:"spec"`
}

// certManagerUsages are the key usages cert-manager accepts.
var certManagerUsages = []string{
	"signing", "digital signature", "content commitment", "key encipherment", "key agreement",
	"data encipherment", "cert sign", "crl sign", "encipher only", "decipher only", "any",
	"server auth", "client auth", "code signing", "email protection", "s/mime", "ipsec end system",
	"ipsec tunnel", "ipsec user", "timestamping", "ocsp signing", "microsoft sgc", "netscape sgc",
}

// validate checks what cert-manager's admission webhook refuses and the
// strict decode cannot see.
func (c *certManagerCertificate) validate() error {
	var errs []error
	s := c.Spec
	if s.SecretName == "" {
		errs = append(errs, errors.New("spec.secretName is required"))
	}
	if s.IssuerRef.Name == "" {
		errs = append(errs, errors.New("spec.issuerRef.name is required"))
	}
	if k := s.IssuerRef.Kind; k != "" && k != "Issuer" && k != "ClusterIssuer" {
		errs = append(errs, fmt.Errorf("spec.issuerRef.kind %q: want Issuer or ClusterIssuer", k))
	}
	if g := s.IssuerRef.Group; g != "" && g != "cert-manager.io" {
		errs = append(errs, fmt.Errorf("spec.issuerRef.group %q: only cert-manager.io issuers are used here", g))
	}
	if s.CommonName == "" && len(s.DNSNames)+len(s.URIs)+len(s.IPAddresses) == 0 {
		errs = append(errs, errors.New("want at least one of commonName, dnsNames, uris, ipAddresses"))
	}
	var duration, renew time.Duration
	var err error
	if s.Duration != "" {
		if duration, err = time.ParseDuration(s.Duration); err != nil || duration < time.Hour {
			errs = append(errs, fmt.Errorf("spec.duration %q: want a Go duration of at least 1h", s.Duration))
		}
	}
	if s.RenewBefore != "" {
		if renew, err = time.ParseDuration(s.RenewBefore); err != nil || renew < 5*time.Minute {
			errs = append(errs, fmt.Errorf("spec.renewBefore %q: want a Go duration of at least 5m", s.RenewBefore))
		} else if duration > 0 && renew >= duration {
			errs = append(errs, fmt.Errorf("spec.renewBefore %s is not shorter than spec.duration %s", renew, duration))
		}
	}
	for _, u := range s.Usages {
		if !slices.Contains(certManagerUsages, u) {
			errs = append(errs, fmt.Errorf("spec.usages: %q is not a cert-manager key usage", u))
		}
	}
	for _, raw := range s.URIs {
		if u, err := url.Parse(raw); err != nil || u.Scheme == "" {
			errs = append(errs, fmt.Errorf("spec.uris: %q is not an absolute URI", raw))
		}
	}
	if k := s.PrivateKey; k != nil {
		if !slices.Contains([]string{"", "RSA", "ECDSA", "Ed25519"}, k.Algorithm) {
			errs = append(errs, fmt.Errorf("spec.privateKey.algorithm %q", k.Algorithm))
		}
		if !slices.Contains([]string{"", "Never", "Always"}, k.RotationPolicy) {
			errs = append(errs, fmt.Errorf("spec.privateKey.rotationPolicy %q", k.RotationPolicy))
		}
	}
	return errors.Join(errs...)
}

type certManagerIssuer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		SelfSigned *struct {
			CRLDistributionPoints []string `json:"crlDistributionPoints,omitempty"`
		} `json:"selfSigned,omitempty"`
		CA *struct {
			SecretName            string   `json:"secretName"`
			CRLDistributionPoints []string `json:"crlDistributionPoints,omitempty"`
		} `json:"ca,omitempty"`
	} `json:"spec"`
}

// validate: exactly one issuer type (the two used here), complete.
func (i *certManagerIssuer) validate() error {
	s := i.Spec
	if (s.SelfSigned == nil) == (s.CA == nil) {
		return errors.New("want exactly one of spec.selfSigned and spec.ca (the issuer types used here)")
	}
	if s.CA != nil && s.CA.SecretName == "" {
		return errors.New("spec.ca.secretName is required")
	}
	return nil
}

// passwordAccountEnv are the variables of password service accounts, which
// only plaintext development uses.
var passwordAccountEnv = []string{"SERVICE_ACCOUNTS", "SERVICE_ACCOUNT_PASSWORD"}

// The files cert-manager writes into a certificate's Secret.
const (
	certFileKey = "tls.crt"
	keyFileKey  = "tls.key"
	caFileKey   = "ca.crt"
)

// declaredString is the string value of key in a declared file, or "".
func declaredString(data []byte, key string) string {
	var m map[string]any
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&m); err != nil && !errors.Is(err, io.EOF) {
		return ""
	}
	if v, ok := m[key]; ok && v != nil {
		return fmt.Sprint(v)
	}
	return ""
}

// secretFile finds the Secret and key that the container sees at file: a
// Secret volume mounted (without subPath) on the file's directory.
func secretFile(pod *corev1.PodSpec, c *corev1.Container, file string) (secret, key string, mode int32) {
	dir, base := path.Split(file)
	dir = strings.TrimSuffix(dir, "/")
	for _, m := range c.VolumeMounts {
		if m.MountPath != dir || m.SubPath != "" {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name != m.Name || v.Secret == nil {
				continue
			}
			mode = deref32(v.Secret.DefaultMode, 0o644)
			if len(v.Secret.Items) == 0 {
				return v.Secret.SecretName, base, mode
			}
			for _, it := range v.Secret.Items {
				if it.Path == base {
					return v.Secret.SecretName, it.Key, mode
				}
			}
		}
	}
	return "", "", 0
}

// peerHosts are the host names each service is dialled by, from the
// declared files of the others: <peer>_addr and jwks_url (the user service).
func peerHosts(f k8sFacts) map[string][]string {
	out := map[string][]string{}
	for _, caller := range sortedNames(f.services) {
		leaves, err := flattenConfig(f.declared[caller], f.keys[caller])
		if err != nil {
			continue
		}
		for key, leaf := range leaves {
			v := leaf.node.Value
			switch {
			case key == "jwks_url":
				if u, err := url.Parse(v); err == nil {
					out["user"] = append(out["user"], u.Hostname())
				}
			case strings.HasSuffix(key, "_addr"):
				peer := strings.TrimSuffix(key, "_addr")
				if _, ok := f.services[peer]; !ok {
					continue
				}
				if h, _, err := net.SplitHostPort(strings.TrimPrefix(v, "dns:///")); err == nil {
					out[peer] = append(out[peer], h)
				}
			}
		}
	}
	for k := range out {
		slices.Sort(out[k])
		out[k] = slices.Compact(out[k])
	}
	return out
}

// checkTLS returns what is wrong with TLS in a rendered overlay where the
// declared files turn it on: every service or none; each pod mounts the
// Secret of a cert-manager Certificate at the declared paths; the
// certificate carries the service's SPIFFE identity and every name peers
// dial, is good for server and client auth, and comes from a CA issuer of
// the overlay; the key set is fetched over https and Prometheus scrapes
// over https.
func checkTLS(r *k8sRender, f k8sFacts) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	var on, off []string
	for _, name := range sortedNames(f.services) {
		if declaredTLS(f.declared[name]) {
			on = append(on, name)
		} else {
			off = append(off, name)
		}
	}
	if len(on) == 0 {
		return nil
	}
	if len(off) > 0 {
		bad("TLS is on for %v and off for %v: mTLS callers cannot reach plaintext peers, nor the other way round", on, off)
	}
	ns := ""
	if nss := all[*corev1.Namespace](r, "Namespace"); len(nss) == 1 {
		ns = nss[0].Name
	}
	hosts := peerHosts(f)
	certs := all[*certManagerCertificate](r, "Certificate")
	for _, name := range on {
		data := f.declared[name]
		d := deployment(r, name)
		pod := &d.Spec.Template.Spec
		c := container(pod, name)
		if c == nil {
			continue
		}
		secrets := map[string]bool{}
		for _, file := range []struct{ key, want string }{
			{"tls_cert_file", certFileKey}, {"tls_key_file", keyFileKey}, {"tls_ca_file", caFileKey},
		} {
			p := declaredString(data, file.key)
			secret, key, mode := secretFile(pod, c, p)
			switch {
			case secret == "":
				bad("%s: %s %q is not in a Secret volume the container mounts", name, file.key, p)
				continue
			case key != file.want:
				bad("%s: %s %q is key %s of Secret %s, want %s", name, file.key, p, key, secret, file.want)
			case mode&0o007 != 0:
				bad("%s: the Secret %s volume is world-readable (mode %#o)", name, secret, mode)
			}
			secrets[secret] = true
		}
		if len(secrets) != 1 {
			bad("%s: the certificate, key and CA come from %d Secrets, want the one cert-manager writes", name, len(secrets))
			continue
		}
		var secretName string
		for s := range secrets {
			secretName = s
		}
		if u, err := url.Parse(declaredString(data, "jwks_url")); name != "user" && (err != nil || u.Scheme != "https") {
			bad("%s: jwks_url is not https: the key set would travel in clear", name)
		}
		for _, e := range containerEnv(c) {
			if slices.Contains(passwordAccountEnv, e.Name) {
				bad("%s: env %s under TLS: a password service account outside plaintext dev is a second way in; the certificate is the identity", name, e.Name)
			}
		}
		if s := d.Spec.Template.Annotations["prometheus.io/scheme"]; s != "https" {
			bad("%s: pod annotation prometheus.io/scheme %q, want https: the HTTP port serves TLS", name, s)
		}

		i := slices.IndexFunc(certs, func(cert *certManagerCertificate) bool { return cert.Spec.SecretName == secretName })
		if i < 0 {
			bad("%s: no Certificate writes the Secret %s", name, secretName)
			continue
		}
		cert := certs[i]
		trust := declaredString(data, "tls_trust_domain")
		if trust == "" {
			trust = "slipway.local"
		}
		if want := []string{"spiffe://" + trust + "/" + name}; !slices.Equal(cert.Spec.URIs, want) {
			bad("Certificate %s: uris %q, want %q (the identity peers authorize)", cert.Name, cert.Spec.URIs, want)
		}
		for _, u := range []string{"server auth", "client auth"} {
			if !slices.Contains(cert.Spec.Usages, u) {
				bad("Certificate %s: usages %q lack %q: the service is both server and client of mTLS", cert.Name, cert.Spec.Usages, u)
			}
		}
		if cert.Spec.IsCA {
			bad("Certificate %s is a CA: a service that can sign could mint any identity", cert.Name)
		}
		want := slices.Clone(hosts[name])
		for _, svcName := range []string{name, name + "-headless"} {
			if _, ok := find[*corev1.Service](r, "Service", svcName); ok && ns != "" {
				want = append(want, svcName+"."+ns+".svc", svcName+"."+ns+".svc.cluster.local")
			}
		}
		for _, h := range want {
			if !slices.Contains(cert.Spec.DNSNames, h) {
				bad("Certificate %s: dnsNames lack %q, a name it is dialled by", cert.Name, h)
			}
		}
		problems = append(problems, checkIssuer(r, cert)...)
	}
	return problems
}

// checkIssuer: a leaf certificate comes from a CA issuer of the overlay,
// whose CA Secret is written by a CA Certificate when the overlay makes it.
func checkIssuer(r *k8sRender, cert *certManagerCertificate) []string {
	ref := cert.Spec.IssuerRef
	kind := ref.Kind
	if kind == "" {
		kind = "Issuer"
	}
	issuer, ok := find[*certManagerIssuer](r, kind, ref.Name)
	if !ok {
		return []string{fmt.Sprintf("Certificate %s: issuer %s %s is not in the overlay", cert.Name, kind, ref.Name)}
	}
	if issuer.Spec.CA == nil {
		return []string{fmt.Sprintf("Certificate %s: issuer %s is not a CA issuer: peers could not verify it against one CA", cert.Name, ref.Name)}
	}
	for _, ca := range all[*certManagerCertificate](r, "Certificate") {
		if ca.Spec.SecretName == issuer.Spec.CA.SecretName && !ca.Spec.IsCA {
			return []string{fmt.Sprintf("Certificate %s writes the CA Secret %s but is not isCA", ca.Name, ca.Spec.SecretName)}
		}
	}
	return nil
}

// TestKubernetesProdTLS: prod turns TLS on for every service with
// cert-manager certificates, mounted where the declared files point.
func TestKubernetesProdTLS(t *testing.T) {
	root := repoRoot(t)
	prod, err := renderOverlay(filepath.Join(root, k8sOverlays, "prod"))
	require.NoError(t, err)
	f := readK8sFacts(t, "prod")
	services := sortedNames(f.services)
	for _, name := range services {
		assert.True(t, declaredTLS(f.declared[name]), "prod: %s does not turn TLS on", name)
	}
	assert.Empty(t, checkTLS(prod, f))
	var identities []string
	for _, c := range all[*certManagerCertificate](prod, "Certificate") {
		if !c.Spec.IsCA {
			identities = append(identities, c.Spec.URIs...)
		}
	}
	var want []string
	for _, name := range services {
		want = append(want, "spiffe://slipway.local/"+name)
	}
	assert.ElementsMatch(t, want, identities, "one Certificate per service")

	dev, err := renderOverlay(filepath.Join(root, k8sOverlays, "dev"))
	require.NoError(t, err)
	assert.Empty(t, all[*certManagerCertificate](dev, "Certificate"), "dev stays plaintext and needs no cert-manager")

	tests := []struct {
		name   string
		mutate func(r *k8sRender)
		want   string
	}{
		{"another service's identity", func(r *k8sRender) {
			certificate(r, "inventory-tls").Spec.URIs = []string{"spiffe://slipway.local/order"}
		}, `Certificate inventory-tls: uris ["spiffe://slipway.local/order"]`},
		{"server auth only", func(r *k8sRender) {
			certificate(r, "order-tls").Spec.Usages = []string{"digital signature", "server auth"}
		}, `lack "client auth"`},
		{"headless name missing", func(r *k8sRender) {
			c := certificate(r, "inventory-tls")
			c.Spec.DNSNames = slices.DeleteFunc(c.Spec.DNSNames, func(s string) bool { return s == "inventory-headless" })
		}, `dnsNames lack "inventory-headless"`},
		{"self-signed leaf", func(r *k8sRender) {
			certificate(r, "user-tls").Spec.IssuerRef.Name = "slipway-selfsigned"
		}, "issuer slipway-selfsigned is not a CA issuer"},
		{"service certificate that can sign", func(r *k8sRender) {
			certificate(r, "user-tls").Spec.IsCA = true
		}, "Certificate user-tls is a CA"},
		{"certificate not mounted", func(r *k8sRender) {
			c := container(&deployment(r, "order").Spec.Template.Spec, "order")
			c.VolumeMounts = slices.DeleteFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == "tls" })
		}, `order: tls_cert_file "/var/run/secrets/slipway/tls/tls.crt" is not in a Secret volume`},
		{"no Certificate for the Secret", func(r *k8sRender) {
			withVolume(deployment(r, "notification"), "tls", func(v *corev1.Volume) { v.Secret.SecretName = "notification-certs" })
		}, "no Certificate writes the Secret notification-certs"},
		{"world-readable key", func(r *k8sRender) {
			mode := int32(0o644)
			withVolume(deployment(r, "user"), "tls", func(v *corev1.Volume) { v.Secret.DefaultMode = &mode })
		}, "is world-readable"},
		{"password service account under TLS", func(r *k8sRender) {
			c := container(&deployment(r, "order").Spec.Template.Spec, "order")
			c.Env = append(c.Env, corev1.EnvVar{Name: "SERVICE_ACCOUNT_PASSWORD", ValueFrom: &corev1.EnvVarSource{
				SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "order-secrets"}, Key: "SERVICE_ACCOUNT_PASSWORD"}}})
		}, "env SERVICE_ACCOUNT_PASSWORD under TLS"},
		{"metrics scraped in clear", func(r *k8sRender) {
			delete(deployment(r, "order").Spec.Template.Annotations, "prometheus.io/scheme")
		}, "prometheus.io/scheme"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := renderOverlay(filepath.Join(root, k8sOverlays, "prod"))
			require.NoError(t, err)
			tt.mutate(r)
			problems := checkTLS(r, f)
			assert.True(t, slices.ContainsFunc(problems, func(s string) bool { return strings.Contains(s, tt.want) }),
				"want a problem containing %q, got %q", tt.want, problems)
		})
	}

	// TLS on for some services only.
	mixed := readK8sFacts(t, "prod")
	mixed.declared["inventory"] = declaredFile(t, "dev", "inventory")
	assert.True(t, slices.ContainsFunc(checkTLS(prod, mixed), func(s string) bool { return strings.Contains(s, "off for [inventory]") }))
}

// TestKubernetesProdOperatorSurface: prod lists no methods to whoever
// connects (dev keeps reflection for grpcurl and the console), serves the
// operator endpoints on loopback only, and leaves pprof off.
func TestKubernetesProdOperatorSurface(t *testing.T) {
	f := readK8sFacts(t, "prod")
	root := repoRoot(t)
	prod, err := renderOverlay(filepath.Join(root, k8sOverlays, "prod"))
	require.NoError(t, err)
	for _, name := range sortedNames(f.services) {
		assert.Empty(t, checkOperatorSurface(prod, f, name), "prod/%s", name)
	}
	tests := []struct {
		name, from, to, want string
	}{
		{"reflection on", "grpc_reflection: false", "grpc_reflection: true", "grpc_reflection"},
		{"reflection left to the default (on)", "grpc_reflection: false\n", "", "grpc_reflection"},
		{"admin on the pod's network", "admin_addr: 127.0.0.1:9090", "admin_addr: 0.0.0.0:9090", "admin_addr"},
		{"admin on the HTTP port", "admin_addr: 127.0.0.1:9090\n", "", "admin_addr"},
		{"pprof on", "admin_addr: 127.0.0.1:9090\n", "admin_addr: 127.0.0.1:9090\npprof_enabled: true\n", "pprof_enabled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			broken := readK8sFacts(t, "prod")
			data := string(broken.declared["order"])
			require.Contains(t, data, tt.from)
			broken.declared["order"] = []byte(strings.Replace(data, tt.from, tt.to, 1))
			problems := checkOperatorSurface(prod, broken, "order")
			assert.True(t, slices.ContainsFunc(problems, func(s string) bool { return strings.Contains(s, tt.want) }),
				"want a problem containing %q, got %q", tt.want, problems)
		})
	}
	r, err := renderOverlay(filepath.Join(root, k8sOverlays, "prod"))
	require.NoError(t, err)
	c := container(&deployment(r, "user").Spec.Template.Spec, "user")
	c.Env = append(c.Env, corev1.EnvVar{Name: "GRPC_REFLECTION", Value: "true"})
	assert.NotEmpty(t, checkOperatorSurface(r, f, "user"), "an env override turns reflection back on")
}

// checkOperatorSurface returns what exposes svc's operator surface in a
// rendered overlay: reflection on, the admin endpoints on a port the
// network reaches, pprof on. The environment overrides the declared file.
func checkOperatorSurface(r *k8sRender, f k8sFacts, svc string) []string {
	value := func(key, env string) string {
		v := declaredString(f.declared[svc], key)
		for _, e := range containerEnv(container(&deployment(r, svc).Spec.Template.Spec, svc)) {
			if e.Name == env {
				v = e.Value
			}
		}
		return v
	}
	var problems []string
	if v := value("grpc_reflection", "GRPC_REFLECTION"); v != "false" {
		problems = append(problems, fmt.Sprintf("%s: grpc_reflection %q: reflection lists every method to whoever connects; want false", svc, v))
	}
	admin := value(adminAddr, "ADMIN_ADDR")
	if host, _, err := net.SplitHostPort(admin); err != nil || !isLoopback(host) {
		problems = append(problems, fmt.Sprintf("%s: admin_addr %q: want a loopback listener, so /debug and /admin are not on the HTTP port the ingress reaches", svc, admin))
	}
	if v := value("pprof_enabled", "PPROF_ENABLED"); v == "true" {
		problems = append(problems, fmt.Sprintf("%s: pprof_enabled is on in prod", svc))
	}
	return problems
}

func certificate(r *k8sRender, name string) *certManagerCertificate {
	c, ok := find[*certManagerCertificate](r, "Certificate", name)
	if !ok {
		panic("no Certificate " + name)
	}
	return c
}

func withVolume(d *appsv1.Deployment, name string, edit func(*corev1.Volume)) {
	for i := range d.Spec.Template.Spec.Volumes {
		if d.Spec.Template.Spec.Volumes[i].Name == name {
			edit(&d.Spec.Template.Spec.Volumes[i])
			return
		}
	}
	panic("no volume " + name)
}
