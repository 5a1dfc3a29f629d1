package drift

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/slipway-dev/slipway/platform/redact"
)

// configKind is the type of a config key, as far as comparing values needs.
type configKind int

const (
	configKindUnknown configKind = iota
	configKindString
	configKindDuration
	configKindBool
	configKindNumber
	configKindList
)

// configField is one key of a service's config struct.
type configField struct {
	Key    string // dotted YAML key
	Env    string // environment variable
	Kind   configKind
	Secret bool // secret:"true": shown as hmac-sha256:<hex>
	URL    bool // redact:"url": password masked
}

// configSchema is the keys of a service's config, read from its source.
type configSchema struct {
	byKey map[string]configField
	byEnv map[string]configField
}

// lookup returns the key's field and whether the source declares it.
func (s *configSchema) lookup(key string) (configField, bool) {
	if s == nil {
		return configField{}, false
	}
	f, ok := s.byKey[key]
	return f, ok
}

// field returns the key's field; unknown keys get a zero field (kind
// unknown: the type is taken from the value found).
func (s *configSchema) field(key string) configField {
	if f, ok := s.lookup(key); ok {
		return f
	}
	return configField{Key: key}
}

// shown is how a value is printed: secrets never are.
func shown(f configField, v any) any {
	if v == nil {
		return nil
	}
	if f.Secret {
		return secretShown
	}
	return v
}

// rawConfigNode is a YAML leaf as written, for keys that cannot be typed.
func rawConfigNode(n *yaml.Node) any {
	if n.Kind == yaml.SequenceNode {
		out := make([]any, 0, len(n.Content))
		for _, item := range n.Content {
			out = append(out, derefConfigNode(item).Value)
		}
		return out
	}
	return n.Value
}

// normConfigYAML turns a declared YAML leaf into the value /debug/config shows for
// it: typed by the field, or by hint (the value found) when the field's type
// is unknown, and redacted like config.Redacted.
func normConfigYAML(n *yaml.Node, f configField, hint any, fp *redact.Fingerprinter) (any, error) {
	kind := f.Kind
	if kind == configKindUnknown {
		kind = inferConfigKind(n, hint)
	}
	var v any
	switch {
	case isNullConfigNode(n):
		v = zeroConfigValue(kind)
	case kind == configKindList:
		if n.Kind != yaml.SequenceNode {
			return nil, errors.New("want a list")
		}
		list := make([]any, 0, len(n.Content))
		for _, item := range n.Content {
			item = derefConfigNode(item)
			if item.Kind != yaml.ScalarNode {
				return nil, errors.New("want a list of strings")
			}
			list = append(list, item.Value)
		}
		v = list
	case n.Kind != yaml.ScalarNode:
		return nil, errors.New("want a single value")
	default:
		var err error
		if v, err = normConfigScalar(kind, n.Value); err != nil {
			return nil, err
		}
	}
	return redactConfigValue(f, v, fp)
}

// normConfigEnv turns an environment variable's value into the value
// /debug/config shows for it, as config.Load reads variables.
func normConfigEnv(s string, f configField, hint any, fp *redact.Fingerprinter) (any, error) {
	kind := f.Kind
	if kind == configKindUnknown {
		kind = inferConfigKind(&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}, hint)
		if _, ok := hint.([]any); ok {
			kind = configKindList
		}
	}
	if kind == configKindList {
		list := []any{}
		for item := range strings.SplitSeq(s, ",") {
			if item = strings.TrimSpace(item); item != "" {
				list = append(list, item)
			}
		}
		return redactConfigValue(f, list, fp)
	}
	v, err := normConfigScalar(kind, s)
	if err != nil {
		return nil, err
	}
	return redactConfigValue(f, v, fp)
}

// inferConfigKind guesses a key's type from the value found for it, or from the
// YAML tag when nothing was found.
func inferConfigKind(n *yaml.Node, hint any) configKind {
	switch h := hint.(type) {
	case bool:
		return configKindBool
	case float64:
		return configKindNumber
	case []any:
		return configKindList
	case string:
		if _, err := time.ParseDuration(strings.TrimSpace(n.Value)); err == nil {
			if _, err := time.ParseDuration(h); err == nil {
				return configKindDuration
			}
		}
		return configKindString
	}
	switch {
	case n.Kind == yaml.SequenceNode:
		return configKindList
	case n.ShortTag() == "!!bool":
		return configKindBool
	case n.ShortTag() == "!!int", n.ShortTag() == "!!float":
		return configKindNumber
	}
	return configKindString
}

func zeroConfigValue(kind configKind) any {
	switch kind {
	case configKindDuration:
		return time.Duration(0).String()
	case configKindBool:
		return false
	case configKindNumber:
		return float64(0)
	case configKindList:
		return []any{}
	}
	return ""
}

// normConfigScalar parses s as config.Load does for a field of kind.
func normConfigScalar(kind configKind, s string) (any, error) {
	if kind != configKindString && kind != configKindUnknown {
		s = strings.TrimSpace(s)
	}
	switch kind {
	case configKindDuration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return nil, errors.New("not a duration")
		}
		return d.String(), nil
	case configKindBool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, errors.New("not a bool (want true or false)")
		}
		return b, nil
	case configKindNumber:
		n, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, errors.New("not a number")
		}
		return n, nil
	}
	return s, nil
}

// redactConfigValue redacts v as config.Redacted does for f, fingerprinting
// secrets with fp (errNoKey when fp is nil).
func redactConfigValue(f configField, v any, fp *redact.Fingerprinter) (any, error) {
	if !f.Secret && !f.URL {
		return v, nil
	}
	one := redact.URL
	if f.Secret {
		if fp == nil {
			return nil, errNoKey
		}
		one = fp.Secret
	}
	switch v := v.(type) {
	case string:
		return one(v), nil
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = one(fmt.Sprint(x))
		}
		return out, nil
	}
	return one(fmt.Sprint(v)), nil
}

// fingerprinter is the key s's running secrets are compared under: one a
// --k8s Secret of s carries, else the run's.
func (d *drifter) fingerprinter(s *subject) *redact.Fingerprinter {
	if s.fp != nil {
		return s.fp
	}
	return d.fp
}
