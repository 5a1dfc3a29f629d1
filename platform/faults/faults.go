// Package faults injects errors and latency into RPCs on purpose, for chaos
// experiments. It is off unless a service enables it in config, and even then
// does nothing until rules are set.
package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/slipway-dev/slipway/platform/errkind"
)

// Rule makes matching RPCs fail with Code at Rate, or wait Delay first.
// Its JSON form names the code and spells the delay as Go does:
//
//	{"method":"/slipway.inventory.v1.InventoryService/","code":"UNAVAILABLE","rate":0.4,"delay":"150ms"}
type Rule struct {
	// Method is a full method ("/pkg.Service/Method"), a service prefix
	// ("/pkg.Service/"), or "*" for every RPC.
	Method string
	// Code is the error a matching RPC fails with; OK injects only Delay.
	Code codes.Code
	// Rate is the share of matching RPCs that fail with Code, in [0, 1].
	Rate float64
	// Delay is how long every matching RPC waits before it goes on.
	Delay time.Duration
}

// ruleJSON is the wire form of a Rule: "code" is the upper-snake gRPC code
// name and "delay" a Go duration string; both may be left out.
type ruleJSON struct {
	Method string  `json:"method"`
	Code   string  `json:"code,omitempty"`
	Rate   float64 `json:"rate"`
	Delay  string  `json:"delay,omitempty"`
}

// MarshalJSON writes the rule with its code name and delay string.
func (r Rule) MarshalJSON() ([]byte, error) {
	out := ruleJSON{Method: r.Method, Rate: r.Rate}
	if r.Code != codes.OK {
		out.Code = CodeName(r.Code)
	}
	if r.Delay != 0 {
		out.Delay = r.Delay.String()
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads the form MarshalJSON writes. Unknown keys, unknown code
// names and malformed delays are errkind.FieldError naming the key.
func (r *Rule) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var in ruleJSON
	if err := dec.Decode(&in); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return errkind.Field(typeErr.Field, "want a "+typeErr.Type.String()+", got a JSON "+typeErr.Value)
		}
		if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return errkind.Field(strings.Trim(field, `"`), "unknown key; want method, code, rate or delay")
		}
		return fmt.Errorf("fault rule: %w", err)
	}
	rule := Rule{Method: in.Method, Rate: in.Rate}
	if in.Code != "" {
		code, ok := ParseCode(in.Code)
		if !ok {
			return errkind.Field("code", fmt.Sprintf("unknown gRPC code %q; want a name such as UNAVAILABLE", in.Code))
		}
		rule.Code = code
	}
	if in.Delay != "" {
		d, err := time.ParseDuration(in.Delay)
		if err != nil {
			return errkind.Field("delay", fmt.Sprintf("%q is not a duration such as 150ms", in.Delay))
		}
		rule.Delay = d
	}
	*r = rule
	return nil
}

// Validate reports the first thing wrong with r as an errkind.FieldError
// naming the key at fault.
func (r Rule) Validate() error {
	switch {
	case r.Method == "":
		return errkind.Field("method", `is empty; want "/pkg.Service/Method", "/pkg.Service/" or "*"`)
	case r.Method != "*" && !strings.HasPrefix(r.Method, "/"):
		return errkind.Field("method", fmt.Sprintf(`%q: want "/pkg.Service/Method", "/pkg.Service/" or "*"`, r.Method))
	case r.Rate < 0 || r.Rate > 1 || math.IsNaN(r.Rate):
		return errkind.Field("rate", fmt.Sprintf("%v is not in [0, 1]", r.Rate))
	case r.Delay < 0:
		return errkind.Field("delay", fmt.Sprintf("%s is negative", r.Delay))
	case r.Code == codes.OK && r.Delay == 0:
		return errkind.Field("code", "neither an error code nor a delay: the rule would do nothing")
	case r.Code > codes.Unauthenticated:
		return errkind.Field("code", fmt.Sprintf("%d is not a gRPC code", uint32(r.Code)))
	}
	return nil
}

// codeNames are the canonical upper-snake names of the gRPC codes.
var codeNames = map[codes.Code]string{
	codes.OK: "OK", codes.Canceled: "CANCELLED", codes.Unknown: "UNKNOWN",
	codes.InvalidArgument: "INVALID_ARGUMENT", codes.DeadlineExceeded: "DEADLINE_EXCEEDED",
	codes.NotFound: "NOT_FOUND", codes.AlreadyExists: "ALREADY_EXISTS",
	codes.PermissionDenied: "PERMISSION_DENIED", codes.ResourceExhausted: "RESOURCE_EXHAUSTED",
	codes.FailedPrecondition: "FAILED_PRECONDITION", codes.Aborted: "ABORTED",
	codes.OutOfRange: "OUT_OF_RANGE", codes.Unimplemented: "UNIMPLEMENTED",
	codes.Internal: "INTERNAL", codes.Unavailable: "UNAVAILABLE", codes.DataLoss: "DATA_LOSS",
	codes.Unauthenticated: "UNAUTHENTICATED",
}

// CodeName is the canonical upper-snake name of c, e.g. UNAVAILABLE.
func CodeName(c codes.Code) string {
	if n, ok := codeNames[c]; ok {
		return n
	}
	return fmt.Sprintf("CODE(%d)", uint32(c))
}

// ParseCode reads an upper-snake gRPC code name such as UNAVAILABLE
// (any case; CANCELED is accepted for CANCELLED).
func ParseCode(name string) (codes.Code, bool) {
	name = strings.ToUpper(strings.TrimSpace(name))
	if name == "CANCELED" {
		return codes.Canceled, true
	}
	for c, n := range codeNames {
		if n == name {
			return c, true
		}
	}
	return 0, false
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

// Set replaces the active rules; Set(nil) clears them. An invalid rule
// leaves the active rules as they were.
func (i *Injector) Set(rules []Rule) error {
	if !i.Enabled() {
		return fmt.Errorf("fault injection is disabled in this service's config (faults_enabled)")
	}
	for i, r := range rules {
		if err := r.Validate(); err != nil {
			return fmt.Errorf("fault rule %d (%s): %w", i, r.Method, err)
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
