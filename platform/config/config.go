// Package config loads a service's typed configuration: the defaults already
// set in the struct, then a YAML file, then environment variables, and
// validates the result before anything starts.
//
// A config struct describes its keys with struct tags:
//
//	type Config struct {
//		config.Base `yaml:",inline"`
//		PaymentKey  string `yaml:"payment_key" env:"PAYMENT_KEY" secret:"true"`
//	}
//
// The tags mean:
//   - yaml:"name" is the key in the file ("-" means not in the file; no tag
//     means the lower-cased field name). Structs tagged ",inline", and
//     untagged embedded structs, share the parent's keys; other struct fields
//     are nested mappings.
//   - env:"NAME" is the environment variable that overrides the key. An empty
//     variable counts as unset. A []string is comma separated.
//   - secret:"true" marks a value that is never shown: Redacted replaces it
//     with an HMAC-SHA256 keyed by CONFIG_FINGERPRINT_KEY, and errors never
//     print it.
//   - redact:"url" marks a URL whose password is masked.
//
// Supported field types: string, bool, signed and unsigned integers, floats,
// time.Duration, []string, types implementing encoding.TextUnmarshaler, and
// structs of these.
package config

import (
	"encoding"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/slipway-dev/slipway/platform/redact"
)

// Error is a configuration value that cannot be used. Its message names the
// key as the operator wrote it (the environment variable, or the dotted YAML
// key) and the value, so a failed start says exactly what to fix:
//
//	config: DRAIN_DELAY="abc": not a duration
//
// Secret values are shown redacted, as Redacted shows them.
type Error struct {
	Key    string // environment variable name or YAML key
	Value  string // the offending value, redacted if secret
	Reason string // what is wrong, or what is wanted
	Source string // "file.yaml:3" for a value read from a file; empty otherwise
}

// Error implements error.
func (e *Error) Error() string {
	if e.Source != "" {
		return fmt.Sprintf("config: %s=%q (%s): %s", e.Key, e.Value, e.Source, e.Reason)
	}
	return fmt.Sprintf("config: %s=%q: %s", e.Key, e.Value, e.Reason)
}

// Load fills cfg, a pointer to a struct whose defaults are already set, from
// the YAML file at path (skipped when path is ""), then from getenv (skipped
// when nil), and then calls cfg.Validate() if cfg has that method.
//
// Keys in the file that cfg does not declare are an error, because a
// misspelt key would otherwise silently leave the default in place.
func Load(cfg any, path string, getenv func(string) string) error {
	rv := reflect.ValueOf(cfg)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("config: Load needs a non-nil pointer to a struct, got %T", cfg)
	}
	fields, err := fieldsOf(rv.Elem().Type(), true)
	if err != nil {
		return err
	}
	if err := checkUnique(fields); err != nil {
		return err
	}
	if path != "" {
		if err := loadFile(rv.Elem(), fields, path); err != nil {
			return err
		}
	}
	if getenv != nil {
		if err := loadEnv(rv.Elem(), fields, getenv); err != nil {
			return err
		}
	}
	if v, ok := cfg.(interface{ Validate() error }); ok {
		return v.Validate()
	}
	return nil
}

// field is one configurable struct field.
type field struct {
	goName string
	index  []int  // from the struct that lists it, through inline structs
	key    string // YAML key; "" when the field is not in the file
	env    string
	secret bool
	url    bool
	nested []field // fields of a non-inline struct field (a YAML mapping)
}

var (
	durationType        = reflect.TypeFor[time.Duration]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// fieldsOf lists the fields of struct type t. strict rejects field types that
// Load cannot set; Redacted is lenient because it only reads.
func fieldsOf(t reflect.Type, strict bool) ([]field, error) {
	var out []field
	if err := collect(t, nil, strict, &out); err != nil {
		return nil, err
	}
	return out, nil
}

func collect(t reflect.Type, prefix []int, strict bool, out *[]field) error {
	for i := range t.NumField() {
		sf := t.Field(i)
		name, opts, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		index := append(slices.Clone(prefix), i)
		inline := slices.Contains(strings.Split(opts, ","), "inline") ||
			(sf.Anonymous && name == "" && sf.Type.Kind() == reflect.Struct)
		if inline {
			if sf.Type.Kind() != reflect.Struct {
				return fmt.Errorf("config: field %s: inline needs a struct, not %s", sf.Name, sf.Type)
			}
			if err := collect(sf.Type, index, strict, out); err != nil {
				return err
			}
			continue
		}
		if !sf.IsExported() {
			continue
		}
		f := field{
			goName: sf.Name,
			index:  index,
			key:    name,
			env:    sf.Tag.Get("env"),
			secret: sf.Tag.Get("secret") == "true",
			url:    sf.Tag.Get("redact") == "url",
		}
		switch name {
		case "-":
			f.key = ""
		case "":
			f.key = strings.ToLower(sf.Name)
		}
		if isNested(sf.Type) {
			nested, err := fieldsOf(sf.Type, strict)
			if err != nil {
				return err
			}
			f.nested = nested
		} else if strict && !isLeaf(sf.Type) {
			return fmt.Errorf("config: field %s: unsupported type %s", sf.Name, sf.Type)
		}
		*out = append(*out, f)
	}
	return nil
}

// checkUnique rejects two fields with the same YAML key at one level, or the
// same environment variable anywhere: one of them could never be set.
func checkUnique(fields []field) error {
	envs := map[string]string{}
	var walk func(fields []field) error
	walk = func(fields []field) error {
		keys := map[string]string{}
		for _, f := range fields {
			if f.key != "" {
				if other, dup := keys[f.key]; dup {
					return fmt.Errorf("config: fields %s and %s both use key %q", other, f.goName, f.key)
				}
				keys[f.key] = f.goName
			}
			if f.env != "" {
				if other, dup := envs[f.env]; dup {
					return fmt.Errorf("config: fields %s and %s both use env %s", other, f.goName, f.env)
				}
				envs[f.env] = f.goName
			}
			if err := walk(f.nested); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(fields)
}

func isNested(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && !reflect.PointerTo(t).Implements(textUnmarshalerType)
}

func isStringSlice(t reflect.Type) bool {
	return t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String &&
		!reflect.PointerTo(t).Implements(textUnmarshalerType)
}

func isLeaf(t reflect.Type) bool {
	if reflect.PointerTo(t).Implements(textUnmarshalerType) || isStringSlice(t) {
		return true
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// setString parses s into v. The error is the reason only; callers add the
// key and value.
func setString(v reflect.Value, s string) error {
	if v.CanAddr() {
		if u, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
			return u.UnmarshalText([]byte(s))
		}
	}
	if v.Kind() != reflect.String {
		s = strings.TrimSpace(s)
	}
	if v.Type() == durationType {
		d, err := time.ParseDuration(s)
		if err != nil {
			return errors.New("not a duration")
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return errors.New("not a bool (want true or false)")
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, v.Type().Bits())
		if err != nil {
			return rangeOr(err, "not an integer")
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(s, 10, v.Type().Bits())
		if err != nil {
			return rangeOr(err, "not a non-negative integer")
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		n, err := strconv.ParseFloat(s, v.Type().Bits())
		if err != nil {
			return rangeOr(err, "not a number")
		}
		v.SetFloat(n)
	default:
		return fmt.Errorf("unsupported type %s", v.Type())
	}
	return nil
}

func rangeOr(err error, reason string) error {
	if errors.Is(err, strconv.ErrRange) {
		return errors.New("out of range")
	}
	return errors.New(reason)
}

// shown is how an error prints a value: secrets and URL passwords redacted.
func (f field) shown(s string) string {
	switch {
	case f.secret:
		return redact.Secret(s)
	case f.url:
		return redact.URL(s)
	}
	return s
}

func loadEnv(v reflect.Value, fields []field, getenv func(string) string) error {
	for _, f := range fields {
		fv := v.FieldByIndex(f.index)
		if f.nested != nil {
			if err := loadEnv(fv, f.nested, getenv); err != nil {
				return err
			}
			continue
		}
		if f.env == "" {
			continue
		}
		s := getenv(f.env)
		if s == "" {
			continue
		}
		if isStringSlice(fv.Type()) {
			fv.Set(reflect.ValueOf(splitList(s)).Convert(fv.Type()))
			continue
		}
		if err := setString(fv, s); err != nil {
			return &Error{Key: f.env, Value: f.shown(s), Reason: err.Error()}
		}
	}
	return nil
}

// splitList splits a comma separated list, dropping blanks so that a
// trailing comma or "a, b" both do what the operator meant.
func splitList(s string) []string {
	out := []string{}
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func loadFile(v reflect.Value, fields []field, path string) error {
	data, err := os.ReadFile(path) //nolint:gosec // the operator chooses the config file
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("config: %s: %w", path, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil // empty file, or comments only
	}
	d := fileDecoder{path: path}
	return d.mapping(doc.Content[0], v, fields, "")
}

// fileDecoder decodes the YAML tree itself rather than with yaml.Decoder, so
// that values go through the same parsers as environment variables and every
// error carries the key, the value and the line.
type fileDecoder struct{ path string }

func (d fileDecoder) at(n *yaml.Node) string { return fmt.Sprintf("%s:%d", d.path, n.Line) }

func (d fileDecoder) mapping(n *yaml.Node, v reflect.Value, fields []field, prefix string) error {
	n = deref(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("config: %s: %s: want a mapping of keys", d.at(n), orTop(prefix))
	}
	byKey := make(map[string]*field, len(fields))
	for i := range fields {
		if fields[i].key != "" {
			byKey[fields[i].key] = &fields[i]
		}
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		key := joinKey(prefix, kn.Value)
		if line, dup := seen[kn.Value]; dup {
			return fmt.Errorf("config: %s: key %q repeated (first on line %d)", d.at(kn), key, line)
		}
		seen[kn.Value] = kn.Line
		f, ok := byKey[kn.Value]
		if !ok {
			return fmt.Errorf("config: %s: unknown key %q", d.at(kn), key)
		}
		fv := v.FieldByIndex(f.index)
		if f.nested != nil {
			if err := d.mapping(vn, fv, f.nested, key); err != nil {
				return err
			}
			continue
		}
		if err := d.value(vn, fv, f, key); err != nil {
			return err
		}
	}
	return nil
}

func (d fileDecoder) value(n *yaml.Node, v reflect.Value, f *field, key string) error {
	n = deref(n)
	if isNull(n) {
		v.SetZero()
		return nil
	}
	if isStringSlice(v.Type()) {
		if n.Kind != yaml.SequenceNode {
			return &Error{Key: key, Value: f.shown(n.Value), Reason: "want a list", Source: d.at(n)}
		}
		list := make([]string, 0, len(n.Content))
		for _, item := range n.Content {
			item = deref(item)
			if item.Kind != yaml.ScalarNode {
				return &Error{Key: key, Value: f.shown(item.Value), Reason: "want a list of strings", Source: d.at(item)}
			}
			list = append(list, item.Value)
		}
		v.Set(reflect.ValueOf(list).Convert(v.Type()))
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return &Error{Key: key, Value: "", Reason: "want a single value", Source: d.at(n)}
	}
	if err := setString(v, n.Value); err != nil {
		return &Error{Key: key, Value: f.shown(n.Value), Reason: err.Error(), Source: d.at(n)}
	}
	return nil
}

func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func joinKey(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

func orTop(key string) string {
	if key == "" {
		return "top level"
	}
	return key
}
