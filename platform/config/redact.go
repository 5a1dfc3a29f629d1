package config

import (
	"bytes"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/slipway-dev/slipway/platform/redact"
)

// Redacted returns the effective configuration as a map keyed by YAML names
// (nested structs become nested maps), fit to print or serve on
// /debug/config:
//
//   - secret:"true" values become "hmac-sha256:<hex>", an HMAC-SHA256 of the
//     value keyed by CONFIG_FINGERPRINT_KEY (the config's own
//     Surface.FingerprintKey; a random key of the process when it is empty),
//     so the drift audit can tell whether two instances share a secret
//     without seeing it, and nobody without the key can test guesses
//     against it (an empty secret stays "", which says "not set");
//   - redact:"url" values have their password, in the user info or in a
//     password query parameter, replaced by "xxxxx";
//   - durations are strings ("5s"), []string is never nil.
//
// Fields without a YAML key (yaml:"-") are left out. cfg is a struct or a
// pointer to one; anything else gives an empty map.
func Redacted(cfg any) map[string]any {
	rv := reflect.ValueOf(cfg)
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return map[string]any{}
		}
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return map[string]any{}
	}
	fields, err := fieldsOf(rv.Type(), false)
	if err != nil {
		return map[string]any{}
	}
	return redactFields(rv, fields, fingerprinterOf(rv, fields))
}

// processFingerprinter keys the fingerprints of configs that name no key:
// random, so that they cannot be tested against guesses, and the same for
// the life of the process, so that /debug/config and its hash stay stable.
var processFingerprinter = sync.OnceValue(redact.RandomFingerprinter)

// fingerprintKeyEnv names the key that keys fingerprints; a config struct
// without it (one that does not embed Base) uses the process's key.
const fingerprintKeyEnv = "CONFIG_FINGERPRINT_KEY"

func fingerprinterOf(v reflect.Value, fields []field) redact.Fingerprinter {
	for _, f := range fields {
		if f.env == fingerprintKeyEnv && f.nested == nil {
			if key := v.FieldByIndex(f.index).String(); key != "" {
				return redact.NewFingerprinter([]byte(key))
			}
		}
	}
	return processFingerprinter()
}

// Hash returns the hex SHA-256 of the canonical JSON of Redacted(cfg): keys
// sorted, no insignificant space. Two instances with the same effective
// configuration have the same hash whatever the field order or source of
// each value, which is what the drift audit compares.
func Hash(cfg any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	m := Redacted(cfg)
	if err := enc.Encode(m); err != nil {
		// Only exotic values (NaN, channels) fail; fmt also sorts map
		// keys, so the fallback is still deterministic.
		buf.Reset()
		fmt.Fprintf(&buf, "%v", m)
	}
	sum := sha256.Sum256(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	return hex.EncodeToString(sum[:])
}

func redactFields(v reflect.Value, fields []field, fp redact.Fingerprinter) map[string]any {
	out := make(map[string]any, len(fields))
	for _, f := range fields {
		if f.key == "" {
			continue
		}
		fv := v.FieldByIndex(f.index)
		if f.nested != nil {
			out[f.key] = redactFields(fv, f.nested, fp)
			continue
		}
		out[f.key] = f.redact(plain(fv), fp)
	}
	return out
}

// plain converts a field value to what JSON should show for it.
func plain(v reflect.Value) any {
	if v.Type() == durationType {
		return time.Duration(v.Int()).String()
	}
	if m, ok := textMarshaler(v); ok {
		if b, err := m.MarshalText(); err == nil {
			return string(b)
		}
	}
	if isStringSlice(v.Type()) {
		out := make([]string, v.Len())
		for i := range out {
			out[i] = v.Index(i).String()
		}
		return out
	}
	return v.Interface()
}

func textMarshaler(v reflect.Value) (encoding.TextMarshaler, bool) {
	if m, ok := v.Interface().(encoding.TextMarshaler); ok {
		return m, true
	}
	if v.CanAddr() {
		m, ok := v.Addr().Interface().(encoding.TextMarshaler)
		return m, ok
	}
	return nil, false
}

func (f field) redact(x any, fp redact.Fingerprinter) any {
	if !f.secret && !f.url {
		return x
	}
	one := redact.URL
	if f.secret {
		one = fp.Secret
	}
	switch x := x.(type) {
	case string:
		return one(x)
	case []string:
		out := make([]string, len(x))
		for i, s := range x {
			out[i] = one(s)
		}
		return out
	}
	return one(fmt.Sprint(x))
}
