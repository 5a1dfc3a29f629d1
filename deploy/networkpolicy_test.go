package deploy

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// The NetworkPolicies of an overlay are checked by evaluating them, as a
// CNI does, on a model of the cluster: the overlay's pods, the
// infrastructure they use (where deploy/k8s/overlays/prod/networkpolicy.yaml
// says it runs), strangers (a pod someone ran in the namespace, another
// team's app, the cloud metadata endpoint, the internet), and every port
// each of them listens on. The calls the services need are read from the
// declared config and the pods' environment; every pair of endpoint and
// port where one side is the overlay's must be allowed exactly when it is
// needed.

// npPort is a port an endpoint listens on.
type npPort struct {
	name     string
	port     int32
	protocol corev1.Protocol
}

func (p npPort) String() string { return fmt.Sprintf("%d/%s", p.port, p.protocol) }

// npEndpoint is one party of a connection: a pod (namespace set) or an
// address outside the cluster.
type npEndpoint struct {
	name      string
	namespace string // "" outside the cluster
	labels    map[string]string
	ip        net.IP
	ports     []npPort
	ours      bool   // a pod of the rendered namespace: its policies apply
	service   string // the Service in front of it, as <name>.<namespace>
}

// npCluster is the model: namespaces with their labels, endpoints, and the
// overlay's policies.
type npCluster struct {
	namespace string // the overlay's
	nsLabels  map[string]map[string]string
	endpoints []*npEndpoint
	policies  []*networkingv1.NetworkPolicy
}

func tcp(name string, port int32) npPort { return npPort{name, port, corev1.ProtocolTCP} }

// Where the prod overlay's dependencies run (the header of
// overlays/prod/networkpolicy.yaml), and strangers that must not be reached.
func infrastructure(services []string) []*npEndpoint {
	pod := func(name, ns, ip string, lbls map[string]string, ports ...npPort) *npEndpoint {
		return &npEndpoint{name: name, namespace: ns, labels: lbls, ip: net.ParseIP(ip), ports: ports}
	}
	out := []*npEndpoint{
		pod("kube-dns", "kube-system", "10.244.50.10", map[string]string{"k8s-app": "kube-dns"},
			npPort{"dns", 53, corev1.ProtocolUDP}, npPort{"dns-tcp", 53, corev1.ProtocolTCP}),
		pod("ingress-nginx", "ingress-nginx", "10.244.50.11", map[string]string{"app.kubernetes.io/name": "ingress-nginx"}, tcp("http", 80), tcp("https", 443)),
		pod("prometheus", "monitoring", "10.244.50.12", map[string]string{"app.kubernetes.io/name": "prometheus"}, tcp("web", 9090)),
		withService("nats.nats", pod("nats", "nats", "10.244.50.13", map[string]string{"app.kubernetes.io/name": "nats"}, tcp("client", 4222), tcp("cluster", 6222), tcp("monitor", 8222))),
		withService("otel-collector.observability", pod("otel-collector", "observability", "10.244.50.14",
			map[string]string{"app.kubernetes.io/name": "opentelemetry-collector"}, tcp("otlp-grpc", 4317), tcp("otlp-http", 4318))),
		pod("redis", "redis", "10.244.50.15", map[string]string{"app.kubernetes.io/name": "redis"}, tcp("redis", 6379)),
		pod("etcd", "etcd", "10.244.50.16", map[string]string{"app.kubernetes.io/name": "etcd"}, tcp("client", 2379)),
		pod("another team's app", "shop-legacy", "10.244.50.17", map[string]string{"app": "legacy"}, tcp("http", 8080)),
		{name: "cloud metadata", ip: net.ParseIP("169.254.169.254"), ports: []npPort{tcp("http", 80)}},
		{name: "kube-apiserver", ip: net.ParseIP("10.96.0.1"), ports: []npPort{tcp("https", 443)}},
		{name: "a private address", ip: net.ParseIP("192.168.10.20"), ports: []npPort{tcp("https", 443)}},
		{name: "the internet", ip: net.ParseIP("93.184.216.34"), ports: []npPort{tcp("https", 443), tcp("http", 80), tcp("smtp", 25)}},
		{name: "the internet (IPv6)", ip: net.ParseIP("2606:2800:21f:cb07:6820:80da:af6b:8b2c"), ports: []npPort{tcp("https", 443)}},
		{name: "an IPv6 private address", ip: net.ParseIP("fd00::10"), ports: []npPort{tcp("https", 443)}},
	}
	for i, svc := range services {
		out = append(out, pod("postgres of "+svc, "postgres", "10.244.60."+strconv.Itoa(10+i),
			map[string]string{"app.kubernetes.io/name": "postgresql", "slipway.dev/database": svc}, tcp("postgres", 5432)))
	}
	return out
}

func withService(service string, e *npEndpoint) *npEndpoint {
	e.service = service
	return e
}

// newCluster models the rendered overlay r in the cluster.
func newCluster(r *k8sRender, f k8sFacts) *npCluster {
	c := &npCluster{nsLabels: map[string]map[string]string{}}
	if nss := all[*corev1.Namespace](r, "Namespace"); len(nss) == 1 {
		c.namespace = nss[0].Name
	}
	c.endpoints = infrastructure(sortedNames(f.services))
	for i, name := range sortedNames(f.services) {
		d := deployment(r, name)
		e := &npEndpoint{name: "pod " + name, namespace: c.namespace, labels: d.Spec.Template.Labels, ip: net.ParseIP("10.244.1." + strconv.Itoa(10+i)), ours: true}
		if ctr := container(&d.Spec.Template.Spec, name); ctr != nil {
			for _, p := range ctr.Ports {
				e.ports = append(e.ports, npPort{p.Name, p.ContainerPort, orTCP(&p.Protocol)})
			}
		}
		c.endpoints = append(c.endpoints, e)
	}
	// Anything else run in the namespace, e.g. kubectl run debug.
	c.endpoints = append(c.endpoints, &npEndpoint{name: "a debug pod in the namespace", namespace: c.namespace,
		labels: map[string]string{"run": "debug"}, ip: net.ParseIP("10.244.1.99"), ports: []npPort{tcp("http", 8080)}, ours: true})
	for _, e := range c.endpoints {
		if e.namespace != "" {
			c.nsLabels[e.namespace] = map[string]string{"kubernetes.io/metadata.name": e.namespace}
		}
	}
	c.policies = all[*networkingv1.NetworkPolicy](r, "NetworkPolicy")
	return c
}

func orTCP(p *corev1.Protocol) corev1.Protocol {
	if p == nil || *p == "" {
		return corev1.ProtocolTCP
	}
	return *p
}

func (c *npCluster) endpoint(name string) *npEndpoint {
	for _, e := range c.endpoints {
		if e.name == name {
			return e
		}
	}
	panic("no endpoint " + name)
}

func (e *npEndpoint) port(name string) npPort {
	for _, p := range e.ports {
		if p.name == name {
			return p
		}
	}
	panic(e.name + " has no port " + name)
}

// selectorMatches: a nil selector matches nothing here (callers handle nil
// where the API gives it a meaning); {} matches everything.
func selectorMatches(sel *metav1.LabelSelector, lbls map[string]string) bool {
	if sel == nil {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && s.Matches(labels.Set(lbls))
}

// policyTypes are the directions a policy governs, with the API's default
// when policyTypes is empty.
func policyTypes(p *networkingv1.NetworkPolicy) (ingress, egress bool) {
	if len(p.Spec.PolicyTypes) == 0 {
		return true, len(p.Spec.Egress) > 0
	}
	return slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeIngress), slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
}

// peerMatches: does a from/to element of a policy in namespace ns pick e?
func (c *npCluster) peerMatches(ns string, peer networkingv1.NetworkPolicyPeer, e *npEndpoint) bool {
	if b := peer.IPBlock; b != nil {
		_, cidr, err := net.ParseCIDR(b.CIDR)
		if err != nil || e.ip == nil || !cidr.Contains(e.ip) {
			return false
		}
		for _, ex := range b.Except {
			if _, n, err := net.ParseCIDR(ex); err == nil && n.Contains(e.ip) {
				return false
			}
		}
		return true
	}
	if e.namespace == "" {
		return false // selectors pick pods only
	}
	if peer.NamespaceSelector == nil {
		if e.namespace != ns {
			return false
		}
	} else if !selectorMatches(peer.NamespaceSelector, c.nsLabels[e.namespace]) {
		return false
	}
	return peer.PodSelector == nil || selectorMatches(peer.PodSelector, e.labels)
}

// portMatches: does a rule's port pick port p of endpoint e?
func portMatches(rule []networkingv1.NetworkPolicyPort, e *npEndpoint, p npPort) bool {
	if len(rule) == 0 {
		return true
	}
	for _, rp := range rule {
		if orTCP(rp.Protocol) != p.protocol {
			continue
		}
		switch {
		case rp.Port == nil:
			return true
		case rp.Port.StrVal != "":
			if rp.Port.StrVal == p.name {
				return true
			}
		case rp.EndPort != nil:
			if p.port >= rp.Port.IntVal && p.port <= *rp.EndPort {
				return true
			}
		case rp.Port.IntVal == p.port:
			return true
		}
	}
	return false
}

// allowed reports whether src may open port p of dst: the egress policies
// that select src (if any) and the ingress policies that select dst (if
// any) must each allow it. Policies outside the overlay's namespace are not
// modelled: a side that is not ours allows.
func (c *npCluster) allowed(src, dst *npEndpoint, p npPort) bool {
	return c.side(src, dst, p, true) && c.side(dst, src, p, false)
}

func (c *npCluster) side(self, other *npEndpoint, p npPort, egress bool) bool {
	if !self.ours {
		return true
	}
	selected := false
	for _, pol := range c.policies {
		in, out := policyTypes(pol)
		if (egress && !out) || (!egress && !in) || !selectorMatches(&pol.Spec.PodSelector, self.labels) {
			continue
		}
		selected = true
		if egress {
			for _, rule := range pol.Spec.Egress {
				if c.anyPeer(pol.Namespace, rule.To, other) && portMatches(rule.Ports, other, p) {
					return true
				}
			}
		} else {
			for _, rule := range pol.Spec.Ingress {
				if c.anyPeer(pol.Namespace, rule.From, other) && portMatches(rule.Ports, self, p) {
					return true
				}
			}
		}
	}
	return !selected
}

func (c *npCluster) anyPeer(ns string, peers []networkingv1.NetworkPolicyPeer, e *npEndpoint) bool {
	if len(peers) == 0 {
		return true
	}
	for _, peer := range peers {
		if c.peerMatches(ns, peer, e) {
			return true
		}
	}
	return false
}

// npEdge is one connection: src opens port on dst.
type npEdge struct{ src, dst, port string }

func (e npEdge) String() string { return e.src + " -> " + e.dst + ":" + e.port }

// neededEdges are the connections the services make, from their declared
// config and environment: DNS, the ingress controller and Prometheus to the
// HTTP port, peers, the key set, NATS, each one's own database, the OTLP
// collector, notification's webhook and payment's provider.
func neededEdges(c *npCluster, r *k8sRender, f k8sFacts) (map[npEdge]bool, []string) {
	need := map[npEdge]bool{}
	var problems []string
	add := func(src, dst *npEndpoint, p npPort) { need[npEdge{src.name, dst.name, p.String()}] = true }
	// hostEndpoint maps a host of the cluster (svc, svc.ns.svc.cluster.local)
	// to the endpoint that serves it.
	hostEndpoint := func(host string) *npEndpoint {
		parts := strings.Split(host, ".")
		ns := c.namespace
		if len(parts) > 1 {
			ns = parts[1]
		}
		if ns == c.namespace {
			if s, ok := find[*corev1.Service](r, "Service", parts[0]); ok {
				for _, e := range c.endpoints {
					if e.ours && e.namespace == ns && selects(s.Spec.Selector, e.labels) {
						return e
					}
				}
			}
			return nil
		}
		for _, e := range c.endpoints {
			if e.service == parts[0]+"."+ns {
				return e
			}
		}
		return nil
	}
	portOf := func(dst *npEndpoint, port int) (npPort, bool) {
		for _, p := range dst.ports {
			if int(p.port) == port && p.protocol == corev1.ProtocolTCP {
				return p, true
			}
		}
		return npPort{}, false
	}
	dial := func(src *npEndpoint, what, host string, port int) {
		dst := hostEndpoint(host)
		if dst == nil {
			problems = append(problems, fmt.Sprintf("%s: %s names %s, which the model does not know: add it to infrastructure()", src.name, what, host))
			return
		}
		p, ok := portOf(dst, port)
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: %s port %d is not a port of %s", src.name, what, port, dst.name))
			return
		}
		add(src, dst, p)
	}
	dns := c.endpoint("kube-dns")
	for _, name := range sortedNames(f.services) {
		self := c.endpoint("pod " + name)
		add(self, dns, dns.port("dns"))
		add(self, dns, dns.port("dns-tcp"))
		d := deployment(r, name)
		if port, err := strconv.Atoi(d.Spec.Template.Annotations["prometheus.io/port"]); err == nil {
			if p, ok := portOf(self, port); ok {
				add(c.endpoint("prometheus"), self, p)
			}
		}
		add(c.endpoint("ingress-nginx"), self, self.port("http"))
		if db := c.endpoint("postgres of " + name); db != nil {
			add(self, db, db.port("postgres"))
		}

		leaves, err := flattenConfig(f.declared[name], f.keys[name])
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		for _, key := range sortedNames(leaves) {
			v := leaves[key].node.Value
			switch {
			case key == "jwks_url" && name != "user": // the issuer signs, it fetches nothing
				u, err := url.Parse(v)
				if err == nil {
					port, _ := strconv.Atoi(u.Port())
					dial(self, key, u.Hostname(), port)
				}
			case key == "stripe_api_url": // a public HTTPS API, called only by the stripe provider
				if declaredString(f.declared[name], "payment_provider") != "stripe" {
					continue
				}
				if u, err := url.Parse(v); err != nil || u.Scheme != "https" || (u.Port() != "" && u.Port() != "443") {
					problems = append(problems, fmt.Sprintf("%s: %s %s: the policy allows the internet on 443 only", name, key, v))
					continue
				}
				for _, inet := range []string{"the internet", "the internet (IPv6)"} {
					dst := c.endpoint(inet)
					add(self, dst, dst.port("https"))
				}
			case key == "nats_url":
				u, err := url.Parse(v)
				if err == nil {
					port, _ := strconv.Atoi(u.Port())
					dial(self, key, u.Hostname(), port)
				}
			case strings.HasSuffix(key, "_addr"):
				if _, isPeer := f.services[strings.TrimSuffix(key, "_addr")]; !isPeer {
					continue
				}
				h, p, err := net.SplitHostPort(strings.TrimPrefix(v, "dns:///"))
				if err == nil {
					port, _ := strconv.Atoi(p)
					dial(self, key, h, port)
				}
			}
		}
		for _, e := range containerEnv(container(&d.Spec.Template.Spec, name)) {
			switch e.Name {
			case "OTEL_EXPORTER_OTLP_ENDPOINT":
				if u, err := url.Parse(e.Value); err == nil {
					port, _ := strconv.Atoi(u.Port())
					dial(self, e.Name, u.Hostname(), port)
				}
			case "NOTIFY_WEBHOOK_URL": // a public HTTPS endpoint, from the Secret
				for _, inet := range []string{"the internet", "the internet (IPv6)"} {
					dst := c.endpoint(inet)
					add(self, dst, dst.port("https"))
				}
			case "REDIS_URL", "DISCOVERY":
				problems = append(problems, fmt.Sprintf("%s: %s is set: model its destination in neededEdges", name, e.Name))
			}
		}
		if v := declaredString(f.declared[name], "discovery"); v != "" && v != "static" {
			problems = append(problems, fmt.Sprintf("%s: discovery %s: allow and model etcd", name, v))
		}
	}
	return need, problems
}

// checkNetworkPolicies returns what is wrong with an overlay's policies: no
// default deny, a pod no policy governs in both directions, a needed call
// refused, a call allowed that nothing needs.
func checkNetworkPolicies(r *k8sRender, f k8sFacts) []string {
	c := newCluster(r, f)
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	defaultDeny := slices.ContainsFunc(c.policies, func(p *networkingv1.NetworkPolicy) bool {
		in, out := policyTypes(p)
		return in && out && len(p.Spec.PodSelector.MatchLabels)+len(p.Spec.PodSelector.MatchExpressions) == 0 &&
			len(p.Spec.Ingress) == 0 && len(p.Spec.Egress) == 0
	})
	if !defaultDeny {
		bad("no default-deny NetworkPolicy (podSelector {}, policyTypes Ingress and Egress, no rules)")
	}
	for _, e := range c.endpoints {
		if !e.ours {
			continue
		}
		var in, out bool
		for _, p := range c.policies {
			pin, pout := policyTypes(p)
			if selectorMatches(&p.Spec.PodSelector, e.labels) {
				in, out = in || pin, out || pout
			}
		}
		if !in || !out {
			bad("%s: no NetworkPolicy governs its ingress (%v) and egress (%v)", e.name, in, out)
		}
	}
	need, p := neededEdges(c, r, f)
	problems = append(problems, p...)
	for _, src := range c.endpoints {
		for _, dst := range c.endpoints {
			if !src.ours && !dst.ours {
				continue
			}
			for _, port := range dst.ports {
				edge := npEdge{src.name, dst.name, port.String()}
				switch ok := c.allowed(src, dst, port); {
				case need[edge] && !ok:
					bad("needed but refused: %s", edge)
				case !need[edge] && ok:
					bad("allowed but not needed: %s", edge)
				}
			}
		}
	}
	return problems
}

// TestKubernetesNetworkPolicy: prod denies by default and allows exactly
// the order flow.
func TestKubernetesNetworkPolicy(t *testing.T) {
	root := repoRoot(t)
	prod, err := renderOverlay(filepath.Join(root, k8sOverlays, "prod"))
	require.NoError(t, err)
	f := readK8sFacts(t, "prod")
	require.NotEmpty(t, all[*networkingv1.NetworkPolicy](prod, "NetworkPolicy"))
	assert.Empty(t, checkNetworkPolicies(prod, f))

	// The edges the issue names, spelt out.
	c := newCluster(prod, f)
	edge := func(src, dst, port string) bool {
		d := c.endpoint(dst)
		return c.allowed(c.endpoint(src), d, d.port(port))
	}
	for _, e := range []struct {
		src, dst, port string
		want           bool
	}{
		{"pod order", "pod inventory", "grpc", true},
		{"pod order", "pod payment", "grpc", true},
		{"pod order", "pod user", "grpc", true},
		{"pod inventory", "pod user", "http", true}, // the key set
		{"pod notification", "pod user", "http", true},
		{"ingress-nginx", "pod order", "http", true},
		{"prometheus", "pod notification", "http", true},
		{"pod order", "nats", "client", true},
		{"pod inventory", "postgres of inventory", "postgres", true},
		{"pod notification", "the internet", "https", true},
		{"pod payment", "the internet", "https", true}, // Stripe's API
		{"pod order", "kube-dns", "dns", true},

		{"pod inventory", "pod user", "grpc", false},
		{"pod notification", "pod user", "grpc", false},
		{"pod notification", "pod inventory", "grpc", false}, // only order reserves stock
		{"pod notification", "pod payment", "grpc", false},   // only order moves money
		{"pod inventory", "pod payment", "grpc", false},
		{"pod payment", "pod order", "grpc", false},
		{"ingress-nginx", "pod payment", "grpc", false},
		{"pod user", "pod inventory", "grpc", false},
		{"pod inventory", "postgres of order", "postgres", false},
		{"pod order", "postgres of user", "postgres", false},
		{"pod user", "nats", "client", false}, // user publishes nothing
		{"ingress-nginx", "pod order", "grpc", false},
		{"another team's app", "pod inventory", "grpc", false},
		{"a debug pod in the namespace", "pod user", "http", false},
		{"pod order", "a debug pod in the namespace", "http", false},
		{"pod notification", "cloud metadata", "http", false},
		{"pod notification", "kube-apiserver", "https", false},
		{"pod notification", "a private address", "https", false},
		{"pod notification", "an IPv6 private address", "https", false},
		{"pod notification", "the internet", "smtp", false},
		{"pod payment", "cloud metadata", "http", false},
		{"pod payment", "a private address", "https", false},
		{"pod payment", "an IPv6 private address", "https", false},
		{"pod payment", "the internet", "http", false},
		{"pod inventory", "the internet", "https", false},
		{"pod order", "the internet", "https", false},
		{"pod order", "redis", "redis", false},
	} {
		assert.Equal(t, e.want, edge(e.src, e.dst, e.port), "%s -> %s:%s", e.src, e.dst, e.port)
	}

	dev, err := renderOverlay(filepath.Join(root, k8sOverlays, "dev"))
	require.NoError(t, err)
	assert.Empty(t, all[*networkingv1.NetworkPolicy](dev, "NetworkPolicy"), "dev hosts PostgreSQL and NATS in its namespace and has no NetworkPolicy")

	tests := []struct {
		name   string
		mutate func(r *k8sRender)
		want   string
	}{
		{"no default deny", func(r *k8sRender) {
			removePolicy(r, "default-deny")
		}, "no default-deny NetworkPolicy"},
		{"debug pod unguarded without the default deny", func(r *k8sRender) {
			removePolicy(r, "default-deny")
		}, "allowed but not needed: a debug pod in the namespace -> postgres of user:5432/TCP"},
		{"user's gRPC open to inventory on both sides", func(r *k8sRender) {
			openUserGRPCIngress(r)
			openInventoryEgress(r)
		}, "allowed but not needed: pod inventory -> pod user:50051/TCP"},
		{"any database", func(r *k8sRender) {
			p := policy(r, "order")
			for i := range p.Spec.Egress {
				for j := range p.Spec.Egress[i].To {
					if sel := p.Spec.Egress[i].To[j].PodSelector; sel != nil && sel.MatchLabels["slipway.dev/database"] != "" {
						p.Spec.Egress[i].To[j].PodSelector = nil
					}
				}
			}
		}, "allowed but not needed: pod order -> postgres of user:5432/TCP"},
		{"webhook may reach private addresses", func(r *k8sRender) {
			p := policy(r, "notification")
			rule := &p.Spec.Egress[len(p.Spec.Egress)-1]
			rule.To[0].IPBlock.Except = slices.DeleteFunc(rule.To[0].IPBlock.Except, func(s string) bool { return s == "192.168.0.0/16" })
		}, "allowed but not needed: pod notification -> a private address:443/TCP"},
		{"payment's provider may reach private addresses", func(r *k8sRender) {
			p := policy(r, "payment")
			rule := &p.Spec.Egress[len(p.Spec.Egress)-1]
			rule.To[0].IPBlock.Except = slices.DeleteFunc(rule.To[0].IPBlock.Except, func(s string) bool { return s == "192.168.0.0/16" })
		}, "allowed but not needed: pod payment -> a private address:443/TCP"},
		{"payment cannot reach Stripe", func(r *k8sRender) {
			p := policy(r, "payment")
			p.Spec.Egress = p.Spec.Egress[:len(p.Spec.Egress)-1]
		}, "needed but refused: pod payment -> the internet:443/TCP"},
		{"no DNS", func(r *k8sRender) {
			removePolicy(r, "dns")
		}, "needed but refused: pod order -> kube-dns:53/UDP"},
		{"order cannot reserve stock", func(r *k8sRender) {
			p := policy(r, "inventory")
			p.Spec.Ingress = nil
		}, "needed but refused: pod order -> pod inventory:50053/TCP"},
		{"order cannot authorize payments: payment's ingress", func(r *k8sRender) {
			p := policy(r, "payment")
			p.Spec.Ingress = nil
		}, "needed but refused: pod order -> pod payment:50055/TCP"},
		{"order cannot authorize payments: order's egress", func(r *k8sRender) {
			p := policy(r, "order")
			p.Spec.Egress = slices.DeleteFunc(p.Spec.Egress, func(rule networkingv1.NetworkPolicyEgressRule) bool {
				return len(rule.To) == 1 && rule.To[0].PodSelector != nil && rule.To[0].PodSelector.MatchLabels["app.kubernetes.io/name"] == "payment"
			})
		}, "needed but refused: pod order -> pod payment:50055/TCP"},
		{"payment's gRPC open to every slipway pod", func(r *k8sRender) {
			p := policy(r, "payment")
			p.Spec.Ingress[0].From[0].PodSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/part-of": "slipway"}}
			policy(r, "notification").Spec.Egress = append(policy(r, "notification").Spec.Egress, networkingv1.NetworkPolicyEgressRule{
				To: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "payment"}}}},
			})
		}, "allowed but not needed: pod notification -> pod payment:50055/TCP"},
		{"metrics not scraped", func(r *k8sRender) {
			removePolicy(r, "http-from-ingress-and-prometheus")
		}, "needed but refused: prometheus -> pod user:8081/TCP"},
		{"gRPC exposed to the ingress", func(r *k8sRender) {
			p := policy(r, "http-from-ingress-and-prometheus")
			p.Spec.Ingress[0].Ports = nil
		}, "allowed but not needed: ingress-nginx -> pod inventory:50053/TCP"},
	}
	// Each side holds on its own: opening user's ingress, or inventory's
	// egress, alone still refuses inventory -> user gRPC.
	for _, open := range []func(*k8sRender){openUserGRPCIngress, openInventoryEgress} {
		r, err := renderOverlay(filepath.Join(root, k8sOverlays, "prod"))
		require.NoError(t, err)
		open(r)
		c := newCluster(r, f)
		user := c.endpoint("pod user")
		assert.False(t, c.allowed(c.endpoint("pod inventory"), user, user.port("grpc")), "one side alone opened inventory -> user gRPC")
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := renderOverlay(filepath.Join(root, k8sOverlays, "prod"))
			require.NoError(t, err)
			tt.mutate(r)
			problems := checkNetworkPolicies(r, f)
			assert.True(t, slices.ContainsFunc(problems, func(s string) bool { return strings.Contains(s, tt.want) }),
				"want a problem containing %q, got %q", tt.want, problems)
		})
	}
}

func policy(r *k8sRender, name string) *networkingv1.NetworkPolicy {
	p, ok := find[*networkingv1.NetworkPolicy](r, "NetworkPolicy", name)
	if !ok {
		panic("no NetworkPolicy " + name)
	}
	return p
}

func removePolicy(r *k8sRender, name string) {
	r.objects = slices.DeleteFunc(r.objects, func(o k8sObject) bool { return o.kind == "NetworkPolicy" && o.name == name })
}

// openUserGRPCIngress lets every slipway pod open user's gRPC port.
func openUserGRPCIngress(r *k8sRender) {
	p := policy(r, "user")
	p.Spec.Ingress[0].From[0].PodSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/part-of": "slipway"}}
}

// openInventoryEgress lets inventory open any port of user's pods.
func openInventoryEgress(r *k8sRender) {
	policy(r, "inventory").Spec.Egress[0].Ports = nil
}
