package fleet

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// Replicas: a service may run as up to MaxReplicas instances. Instance k
// (from 1) listens on the service's own ports plus (k-1)·ReplicaPortStride,
// so with dev's defaults order-1 is at 50052 and 8082, order-2 at 50152
// and 8182.
const (
	MaxReplicas       = 9
	ReplicaPortStride = 100
)

// ParseReplicas reads --replicas: SVC=N[,SVC=N], each a known service
// once, N from 1 to MaxReplicas. "" is no replicas (one instance each).
func ParseReplicas(s string) (map[string]int, error) {
	out := map[string]int{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		svc, n, ok := strings.Cut(part, "=")
		svc, n = strings.TrimSpace(svc), strings.TrimSpace(n)
		if !ok || svc == "" || n == "" {
			return nil, fmt.Errorf("--replicas %q: %q is not SVC=N, such as order=2", s, part)
		}
		if _, dup := out[svc]; dup {
			return nil, fmt.Errorf("--replicas %q: %s is given twice", s, svc)
		}
		count, err := strconv.Atoi(n)
		if err != nil {
			return nil, fmt.Errorf("--replicas %q: %s=%s: N is not a number", s, svc, n)
		}
		out[svc] = count
	}
	if err := CheckReplicas(out, nil); err != nil {
		return nil, fmt.Errorf("--replicas %q: %w", s, err)
	}
	return out, nil
}

// CheckReplicas checks replica counts: known services, 1 to MaxReplicas
// each, and, when running is not nil, only services that run.
func CheckReplicas(replicas map[string]int, running []string) error {
	for _, svc := range slices.Sorted(maps.Keys(replicas)) {
		n := replicas[svc]
		if !slices.ContainsFunc(workspace.Known, func(d workspace.Service) bool { return d.Name == svc }) {
			return fmt.Errorf("unknown service %q (known: %s)", svc, strings.Join(workspace.Names(workspace.Known), ", "))
		}
		if running != nil && !slices.Contains(running, svc) {
			return fmt.Errorf("%s does not run (--services %s)", svc, strings.Join(running, ","))
		}
		if n < 1 || n > MaxReplicas {
			return fmt.Errorf("%s=%d: want 1 to %d instances", svc, n, MaxReplicas)
		}
	}
	return nil
}

// InstanceName names instance k (from 1) of svc in logs and reports:
// svc itself when it runs alone, else svc-k.
func InstanceName(svc string, k, of int) string {
	if of <= 1 {
		return svc
	}
	return svc + "-" + strconv.Itoa(k)
}

// ServiceOf is the service an instance name (InstanceName) belongs to:
// "order" for "order-2" and for "order".
func ServiceOf(instance string) string {
	i := strings.LastIndexByte(instance, '-')
	if i < 0 {
		return instance
	}
	svc, k := instance[:i], instance[i+1:]
	if n, err := strconv.Atoi(k); err != nil || n < 1 || n > MaxReplicas || strconv.Itoa(n) != k {
		return instance
	}
	if !slices.ContainsFunc(workspace.Known, func(d workspace.Service) bool { return d.Name == svc }) {
		return instance
	}
	return svc
}

// instancesOf is how many instances of svc run.
func (o Options) instancesOf(svc string) int {
	return max(1, o.Replicas[svc])
}
