package main

import (
	"regexp"
	"slices"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// fieldRules are fd's protovalidate rules, nil when it has none.
func fieldRules(fd protoreflect.FieldDescriptor) *validate.FieldRules {
	opts, ok := fd.Options().(*descriptorpb.FieldOptions)
	if !ok || opts == nil || !proto.HasExtension(opts, validate.E_Field) {
		return nil
	}
	r, _ := proto.GetExtension(opts, validate.E_Field).(*validate.FieldRules)
	return r
}

// stringFormats are the protovalidate well-known string rules that have an
// OpenAPI format every JSON Schema validator knows; the others (ip, address,
// ulid, ...) are checked by the server only.
var stringFormats = map[string]string{
	"email": "email", "uuid": "uuid", "uri": "uri", "uri_ref": "uri-reference",
	"hostname": "hostname", "ipv4": "ipv4", "ipv6": "ipv6",
}

// applyRules writes r's constraints into schema, the JSON schema of a field
// of kind fd as protoc-gen-openapi wrote it. A $ref schema is left alone:
// OpenAPI 3.0 ignores the siblings of $ref.
func applyRules(schema *yaml.Node, fd protoreflect.FieldDescriptor, r *validate.FieldRules) {
	if r == nil || schema == nil || get(schema, "$ref") != nil {
		return
	}
	if rep := r.GetRepeated(); rep != nil && fd.IsList() {
		if rep.HasMinItems() {
			set(schema, "minItems", number(float64(rep.GetMinItems())))
		}
		if rep.HasMaxItems() {
			set(schema, "maxItems", number(float64(rep.GetMaxItems())))
		}
		if rep.GetUnique() {
			set(schema, "uniqueItems", boolean(true))
		}
		applyScalarRules(get(schema, "items"), fd, rep.GetItems())
		return
	}
	applyScalarRules(schema, fd, r)
}

func applyScalarRules(schema *yaml.Node, fd protoreflect.FieldDescriptor, r *validate.FieldRules) {
	if r == nil || schema == nil || get(schema, "$ref") != nil {
		return
	}
	switch {
	case r.GetString() != nil:
		applyStringRules(schema, r.GetString())
	case r.GetEnum() != nil:
		applyEnumRules(schema, fd, r.GetEnum())
	default:
		if typ := get(schema, "type"); typ != nil && (typ.Value == "integer" || typ.Value == "number") {
			// 64-bit integers are JSON strings (protojson), where a range
			// keyword would not apply: the server alone checks those.
			applyNumericRules(schema, numericRules(r))
		}
	}
}

func applyStringRules(schema *yaml.Node, s *validate.StringRules) {
	if s.HasLen() {
		set(schema, "minLength", number(float64(s.GetLen())))
		set(schema, "maxLength", number(float64(s.GetLen())))
	}
	if s.HasMinLen() {
		set(schema, "minLength", number(float64(s.GetMinLen())))
	}
	if s.HasMaxLen() {
		set(schema, "maxLength", number(float64(s.GetMaxLen())))
	}
	if s.HasPattern() {
		set(schema, "pattern", str(s.GetPattern()))
	}
	if wk := wellKnown(s); wk != "" {
		if format, ok := stringFormats[wk]; ok {
			set(schema, "format", str(format))
		}
	}
	switch {
	case s.HasConst():
		set(schema, "enum", sequence(s.GetConst()))
	case len(s.GetIn()) > 0:
		in := sequence()
		for _, v := range s.GetIn() {
			in.Content = append(in.Content, str(v))
		}
		set(schema, "enum", in)
	}
	if len(s.GetNotIn()) > 0 {
		out := sequence()
		for _, v := range s.GetNotIn() {
			out.Content = append(out.Content, str(v))
		}
		set(schema, "not", mapping("enum", out))
	}
}

// applyEnumRules narrows the enum's value names protoc-gen-openapi listed.
func applyEnumRules(schema *yaml.Node, fd protoreflect.FieldDescriptor, e *validate.EnumRules) {
	list := get(schema, "enum")
	if list == nil || fd.Enum() == nil {
		return
	}
	allowed := func(n int32) bool {
		switch {
		case e.HasConst():
			return n == e.GetConst()
		case len(e.GetIn()) > 0 && !slices.Contains(e.GetIn(), n):
			return false
		}
		return !slices.Contains(e.GetNotIn(), n)
	}
	values := fd.Enum().Values()
	list.Content = slices.DeleteFunc(list.Content, func(n *yaml.Node) bool {
		v := values.ByName(protoreflect.Name(n.Value))
		return v != nil && !allowed(int32(v.Number()))
	})
}

// numeric is a protovalidate numeric rule set (Int32Rules, DoubleRules,
// ...) read as float64s: every numeric rule message has the same fields.
type numeric struct {
	lt, lte, gt, gte, konst *float64
	in, notIn               []float64
}

// numericRules reads whichever numeric rules r holds; nil for none.
func numericRules(r *validate.FieldRules) *numeric {
	m := r.ProtoReflect()
	f := m.WhichOneof(m.Descriptor().Oneofs().ByName("type"))
	if f == nil || f.Message() == nil {
		return nil
	}
	sub := m.Get(f).Message()
	fields := sub.Descriptor().Fields()
	one := func(name string) *float64 {
		fd := fields.ByName(protoreflect.Name(name))
		if fd == nil || !sub.Has(fd) {
			return nil
		}
		v, ok := toFloat(sub.Get(fd))
		if !ok {
			return nil
		}
		return &v
	}
	list := func(name string) []float64 {
		fd := fields.ByName(protoreflect.Name(name))
		if fd == nil || !fd.IsList() {
			return nil
		}
		var out []float64
		l := sub.Get(fd).List()
		for i := range l.Len() {
			if v, ok := toFloat(l.Get(i)); ok {
				out = append(out, v)
			}
		}
		return out
	}
	if fields.ByName("gte") == nil { // not a numeric rule set (bool, bytes, timestamp, ...)
		return nil
	}
	return &numeric{lt: one("lt"), lte: one("lte"), gt: one("gt"), gte: one("gte"), konst: one("const"),
		in: list("in"), notIn: list("not_in")}
}

func toFloat(v protoreflect.Value) (float64, bool) {
	switch x := v.Interface().(type) {
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint32:
		return float64(x), true
	case uint64:
		return float64(x), true
	case float32:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

func applyNumericRules(schema *yaml.Node, n *numeric) {
	if n == nil {
		return
	}
	switch {
	case n.gte != nil:
		set(schema, "minimum", number(*n.gte))
	case n.gt != nil:
		set(schema, "minimum", number(*n.gt))
		set(schema, "exclusiveMinimum", boolean(true))
	}
	switch {
	case n.lte != nil:
		set(schema, "maximum", number(*n.lte))
	case n.lt != nil:
		set(schema, "maximum", number(*n.lt))
		set(schema, "exclusiveMaximum", boolean(true))
	}
	switch {
	case n.konst != nil:
		set(schema, "enum", sequence(*n.konst))
	case len(n.in) > 0:
		in := sequence()
		for _, v := range n.in {
			in.Content = append(in.Content, number(v))
		}
		set(schema, "enum", in)
	}
	if len(n.notIn) > 0 {
		out := sequence()
		for _, v := range n.notIn {
			out.Content = append(out.Content, number(v))
		}
		set(schema, "not", mapping("enum", out))
	}
}

// mustBeSent reports whether a request without fd is refused: the field
// is required, or it has no presence and its zero value breaks a rule
// (proto3 validates those whether they were sent or not), so a client must
// send it.
func mustBeSent(fd protoreflect.FieldDescriptor, r *validate.FieldRules) bool {
	if r == nil {
		return false
	}
	if r.GetRequired() {
		return true
	}
	if r.GetIgnore() == validate.Ignore_IGNORE_IF_ZERO_VALUE || r.GetIgnore() == validate.Ignore_IGNORE_ALWAYS || fd.HasPresence() {
		return false
	}
	if fd.IsList() {
		return r.GetRepeated().GetMinItems() > 0
	}
	if fd.IsMap() {
		return r.GetMap().GetMinPairs() > 0
	}
	switch {
	case r.GetString() != nil:
		return emptyStringFails(r.GetString())
	case r.GetEnum() != nil:
		e := r.GetEnum()
		return (e.HasConst() && e.GetConst() != 0) || (len(e.GetIn()) > 0 && !slices.Contains(e.GetIn(), 0)) ||
			slices.Contains(e.GetNotIn(), 0)
	case r.GetBool() != nil:
		return r.GetBool().GetConst()
	}
	return zeroFails(numericRules(r))
}

// wellKnown is the name of s's well-known format rule set to true (email,
// uuid, ...), "" for none.
func wellKnown(s *validate.StringRules) string {
	m := s.ProtoReflect()
	wk := m.WhichOneof(m.Descriptor().Oneofs().ByName("well_known"))
	if wk == nil || wk.Kind() != protoreflect.BoolKind || !m.Get(wk).Bool() {
		return ""
	}
	return string(wk.Name())
}

func emptyStringFails(s *validate.StringRules) bool {
	if s.GetLen() > 0 || s.GetMinLen() > 0 || s.GetLenBytes() > 0 || s.GetMinBytes() > 0 ||
		s.GetPrefix() != "" || s.GetSuffix() != "" || s.GetContains() != "" ||
		(s.HasConst() && s.GetConst() != "") || (len(s.GetIn()) > 0 && !slices.Contains(s.GetIn(), "")) ||
		slices.Contains(s.GetNotIn(), "") {
		return true
	}
	if wellKnown(s) != "" {
		return true // no well-known format accepts ""
	}
	if s.HasPattern() {
		// protovalidate patterns are RE2, Go's syntax.
		re, err := regexp.Compile(s.GetPattern())
		return err == nil && !re.MatchString("")
	}
	return false
}

func zeroFails(n *numeric) bool {
	if n == nil {
		return false
	}
	return (n.gte != nil && *n.gte > 0) || (n.gt != nil && *n.gt >= 0) ||
		(n.lte != nil && *n.lte < 0) || (n.lt != nil && *n.lt <= 0) ||
		(n.konst != nil && *n.konst != 0) || (len(n.in) > 0 && !slices.Contains(n.in, 0)) ||
		slices.Contains(n.notIn, 0)
}
