package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The health endpoints of the platform's HTTP server: /healthz is liveness
// (the process and its event loop, never dependencies), /readyz readiness
// (required dependencies, cached; NOT_SERVING while draining).
const (
	livenessPath  = "/healthz"
	readinessPath = "/readyz"
)

// probeSignal names what a probe asks: "http /healthz", "grpc \"\"", ... Two
// probes with the same signal fail together.
func probeSignal(p *corev1.Probe) string {
	switch {
	case p == nil:
		return ""
	case p.HTTPGet != nil:
		return "http " + p.HTTPGet.Path
	case p.GRPC != nil:
		service := ""
		if p.GRPC.Service != nil {
			service = *p.GRPC.Service
		}
		return fmt.Sprintf("grpc %q", service)
	case p.TCPSocket != nil:
		return "tcp"
	case p.Exec != nil:
		return "exec"
	}
	return "none"
}

// probePort resolves a probe's port, by name or number, to a container port.
func probePort(c *corev1.Container, port intstr.IntOrString) int32 {
	if port.Type == intstr.String {
		return containerPort(c, port.StrVal)
	}
	return port.IntVal
}

// declaredTLS reports whether a declared config file turns TLS on
// (tls_cert_file set; then key and CA are required by the service).
func declaredTLS(data []byte) bool {
	var m map[string]any
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&m); err != nil && !errors.Is(err, io.EOF) {
		return false
	}
	v, _ := m["tls_cert_file"].(string)
	return v != ""
}

// checkProbes returns what is wrong with the probes of container c of the
// workload named owner: liveness must be /healthz, readiness /readyz (or
// gRPC health, service ""), the two must differ, and with TLS on the
// probes are HTTPS on the HTTP port (the kubelet's gRPC probe has no client
// certificate to show the mTLS gRPC port).
func checkProbes(owner string, c *corev1.Container, svc service, tlsOn bool) []string {
	var problems []string
	bad := func(format string, args ...any) {
		problems = append(problems, fmt.Sprintf("Deployment %s: ", owner)+fmt.Sprintf(format, args...))
	}
	probes := []struct {
		name  string
		probe *corev1.Probe
	}{{"livenessProbe", c.LivenessProbe}, {"readinessProbe", c.ReadinessProbe}, {"startupProbe", c.StartupProbe}}
	for _, p := range probes {
		if p.probe == nil {
			bad("no %s", p.name)
			continue
		}
		switch h := p.probe; {
		case h.HTTPGet != nil:
			if got := probePort(c, h.HTTPGet.Port); got != int32(svc.HTTPPort) {
				bad("%s probes port %d, not the HTTP port %d", p.name, got, svc.HTTPPort)
			}
			want := corev1.URISchemeHTTP
			if tlsOn {
				want = corev1.URISchemeHTTPS
			}
			// An empty scheme is the kubelet's default, HTTP.
			if got := h.HTTPGet.Scheme; got != want && (got != "" || want != corev1.URISchemeHTTP) {
				bad("%s scheme %q, but TLS is %s: want %s", p.name, got, map[bool]string{true: "on", false: "off"}[tlsOn], want)
			}
		case h.GRPC != nil:
			if h.GRPC.Port != int32(svc.GRPCPort) {
				bad("%s probes port %d, not the gRPC port %d", p.name, h.GRPC.Port, svc.GRPCPort)
			}
			if tlsOn {
				bad("%s is a gRPC probe, but with TLS on the gRPC port requires a client certificate the kubelet cannot show: use httpGet with scheme HTTPS", p.name)
			}
		default:
			bad("%s is neither httpGet nor gRPC health", p.name)
		}
	}
	live, ready := probeSignal(c.LivenessProbe), probeSignal(c.ReadinessProbe)
	if c.LivenessProbe != nil && live != "http "+livenessPath {
		bad("livenessProbe asks %s; liveness is httpGet %s, which never follows dependencies", live, livenessPath)
	}
	if c.ReadinessProbe != nil && ready != "http "+readinessPath && ready != `grpc ""` {
		bad(`readinessProbe asks %s; readiness is httpGet %s or gRPC health service ""`, ready, readinessPath)
	}
	if c.LivenessProbe != nil && live == ready {
		bad("livenessProbe and readinessProbe both ask %s: a dependency outage would restart every pod at once", live)
	}
	if s := probeSignal(c.StartupProbe); c.StartupProbe != nil && !slices.Contains([]string{"http " + livenessPath, "http " + readinessPath, `grpc ""`}, s) {
		bad("startupProbe asks %s", s)
	}
	return problems
}

// TestKubernetesProbesUseDifferentSignals: in every overlay, liveness and
// readiness of every workload ask different questions, and the checks catch
// the ways that goes wrong.
func TestKubernetesProbesUseDifferentSignals(t *testing.T) {
	root := repoRoot(t)
	services := slipwayServices(t)
	for _, r := range renderedOverlays(t) {
		f := readK8sFacts(t, r.env)
		for _, name := range sortedNames(services) {
			d := deployment(r, name)
			c := container(&d.Spec.Template.Spec, name)
			require.NotNil(t, c)
			assert.NotEqual(t, probeSignal(c.LivenessProbe), probeSignal(c.ReadinessProbe), "%s/%s", r.env, name)
			assert.Empty(t, checkProbes(name, c, services[name], declaredTLS(f.declared[name])), "%s/%s", r.env, name)
			// The Rollout of prod takes this template (workloadRef): its pods
			// have the same probes.
		}
	}

	tests := []struct {
		name   string
		env    string
		mutate func(c *corev1.Container)
		want   string
	}{
		{"liveness follows readiness", "dev", func(c *corev1.Container) {
			c.LivenessProbe.HTTPGet.Path = readinessPath
		}, "livenessProbe and readinessProbe both ask http /readyz"},
		{"liveness on gRPC health", "dev", func(c *corev1.Container) {
			c.LivenessProbe.HTTPGet = nil
			c.LivenessProbe.GRPC = &corev1.GRPCAction{Port: 50052}
		}, `livenessProbe asks grpc ""`},
		{"same gRPC signal for both", "dev", func(c *corev1.Container) {
			c.LivenessProbe.HTTPGet, c.ReadinessProbe.HTTPGet = nil, nil
			c.LivenessProbe.GRPC = &corev1.GRPCAction{Port: 50052}
			c.ReadinessProbe.GRPC = &corev1.GRPCAction{Port: 50052}
		}, `both ask grpc ""`},
		{"gRPC probe under mTLS", "prod", func(c *corev1.Container) {
			c.ReadinessProbe.HTTPGet = nil
			c.ReadinessProbe.GRPC = &corev1.GRPCAction{Port: 50052}
		}, "requires a client certificate the kubelet cannot show"},
		{"plain HTTP probe of a TLS port", "prod", func(c *corev1.Container) {
			c.LivenessProbe.HTTPGet.Scheme = corev1.URISchemeHTTP
		}, `livenessProbe scheme "HTTP", but TLS is on`},
		{"probe on the gRPC port", "dev", func(c *corev1.Container) {
			c.ReadinessProbe.HTTPGet.Port = intstr.FromString("grpc")
		}, "readinessProbe probes port 50052, not the HTTP port 8082"},
		{"no startup probe", "dev", func(c *corev1.Container) {
			c.StartupProbe = nil
		}, "no startupProbe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := renderOverlay(filepath.Join(root, k8sOverlays, tt.env))
			require.NoError(t, err)
			f := readK8sFacts(t, tt.env)
			require.Empty(t, checkRender(r, f), "the overlay must pass before it is broken")
			tt.mutate(container(&deployment(r, "order").Spec.Template.Spec, "order"))
			problems := checkRender(r, f)
			assert.True(t, slices.ContainsFunc(problems, func(s string) bool { return strings.Contains(s, tt.want) }),
				"want a problem containing %q, got %q", tt.want, problems)
		})
	}
}
