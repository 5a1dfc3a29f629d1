// Package faults injects errors and latency into RPCs on purpose, for chaos
// experiments. It is off unless a service enables it in config, and even then
// does nothing until rules are set.
package faults

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Rule makes matching RPCs fail with Code at Rate, or wait Delay first.
type Rule struct {
	// Method is a full method ("/pkg.Service/Method"), a service prefix
	// ("/pkg.Service/"), or "*" for every RPC.
	Method string        `json:"method"`
	Code   codes.Code    `json:"code"`
	Rate   float64       `json:"rate"`
	Delay  time.Duration `json:"delay"`
}

func (r Rule) validate() error {
	switch {
	case r.Method == "":
		return fmt.Errorf("fault rule: method is empty")
	case r.Rate < 0 || r.Rate > 1:
		return fmt.Errorf("fault rule %s: rate %v not in [0, 1]", r.Method, r.Rate)
	case r.Delay < 0:
		return fmt.Errorf("fault rule %s: negative delay %v", r.Method, r.Delay)
	case r.Code == codes.OK && r.Delay == 0:
		return fmt.Errorf("fault rule %s: neither an error code nor a delay", r.Method)
	}
	return nil
}

func (r Rule) matches(fullMethod string) bool {
	if r.Method == "*" {
		return true
	}
	if strings.HasSuffix(r.Method, "/") {
		return strings.HasPrefix(fullMethod, r.Method)
	}
	return r.Method == fullMethod
}

// Injector holds the active rules. The zero of enabled means it never
// injects, whatever rules are set.
type Injector struct {
	enabled bool
	mu      sync.RWMutex
	rules   []Rule
	rand    func() float64
}

// New returns an injector; a disabled one ignores every rule.
func New(enabled bool) *Injector {
	return &Injector{enabled: enabled, rand: rand.Float64}
}

// Enabled reports whether the injector may inject at all.
func (i *Injector) Enabled() bool { return i != nil && i.enabled }

// Set replaces the active rules.
func (i *Injector) Set(rules []Rule) error {
	if !i.Enabled() {
		return fmt.Errorf("fault injection is disabled in this service's config (faults_enabled)")
	}
	for _, r := range rules {
		if err := r.validate(); err != nil {
			return err
		}
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.rules = append([]Rule(nil), rules...)
	return nil
}

// Rules returns a copy of the active rules.
func (i *Injector) Rules() []Rule {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return append([]Rule(nil), i.rules...)
}

// Apply is called for every RPC before its handler: it sleeps for a matching
// delay and returns a matching error, or nil to let the call through.
func (i *Injector) Apply(ctx context.Context, fullMethod string) error {
	if !i.Enabled() {
		return nil
	}
	i.mu.RLock()
	rules := i.rules
	i.mu.RUnlock()
	for _, r := range rules {
		if !r.matches(fullMethod) {
			continue
		}
		if r.Delay > 0 {
			t := time.NewTimer(r.Delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return status.FromContextError(ctx.Err()).Err()
			case <-t.C:
			}
		}
		if r.Code != codes.OK && i.rand() < r.Rate {
			return status.Errorf(r.Code, "injected fault on %s", fullMethod)
		}
	}
	return nil
}
