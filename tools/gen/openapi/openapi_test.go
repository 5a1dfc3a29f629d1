package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// testDoc is what protoc-gen-openapi writes for shopProto: only 200s, no
// security, no constraints.
const testDoc = `# Generated with protoc-gen-openapi
# https://example.invalid

openapi: 3.0.3
info:
    title: ShopService API
    version: v1
paths:
    /v1/items:
        get:
            operationId: ShopService_ListItems
            parameters:
                - name: pageSize
                  in: query
                  schema:
                    type: integer
                    format: int32
                - name: pageToken
                  in: query
                  schema:
                    type: string
            responses:
                "200":
                    description: OK
    /v1/items/{id}:
        get:
            operationId: ShopService_GetItem
            parameters:
                - name: id
                  in: path
                  required: true
                  schema:
                    type: string
            responses:
                "200":
                    description: OK
    /v1/items/{id}:adjust:
        post:
            description: Adjust changes an item.
            operationId: ShopService_Adjust
            parameters:
                - name: id
                  in: path
                  required: true
                  schema:
                    type: string
            requestBody:
                content:
                    application/json:
                        schema:
                            $ref: '#/components/schemas/AdjustRequest'
            responses:
                "200":
                    description: OK
    /v1/reservations:
        post:
            operationId: ShopService_Reserve
            requestBody:
                content:
                    application/json:
                        schema:
                            $ref: '#/components/schemas/ReserveRequest'
            responses:
                "200":
                    description: OK
components:
    schemas:
        AdjustRequest:
            type: object
            properties:
                id:
                    type: string
                delta:
                    type: integer
                    format: int32
                price:
                    type: number
                    format: double
                note:
                    type: string
                total:
                    type: string
        Item:
            type: object
            properties:
                sku:
                    type: string
                quantity:
                    type: integer
                    format: int32
        ReserveRequest:
            type: object
            properties:
                orderId:
                    type: string
                items:
                    type: array
                    items:
                        $ref: '#/components/schemas/Item'
                email:
                    type: string
`

// field builds a field descriptor with protovalidate rules.
func field(name string, num int32, typ descriptorpb.FieldDescriptorProto_Type, rules *validate.FieldRules, mods ...func(*descriptorpb.FieldDescriptorProto)) *descriptorpb.FieldDescriptorProto {
	f := &descriptorpb.FieldDescriptorProto{
		Name: proto.String(name), Number: proto.Int32(num), Type: typ.Enum(),
		Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
	}
	if rules != nil {
		f.Options = &descriptorpb.FieldOptions{}
		proto.SetExtension(f.Options, validate.E_Field, rules)
	}
	for _, m := range mods {
		m(f)
	}
	return f
}

func repeated(f *descriptorpb.FieldDescriptorProto) {
	f.Label = descriptorpb.FieldDescriptorProto_LABEL_REPEATED.Enum()
}

func message(typeName string) func(*descriptorpb.FieldDescriptorProto) {
	return func(f *descriptorpb.FieldDescriptorProto) { f.TypeName = proto.String(typeName) }
}

func optional(f *descriptorpb.FieldDescriptorProto) { f.Proto3Optional = proto.Bool(true) }

func strRules(r *validate.StringRules) *validate.FieldRules {
	return validate.FieldRules_builder{String: r}.Build()
}

// testFiles is shopProto: the messages and service testDoc was written from.
func testFiles(t *testing.T) *protoregistry.Files {
	t.Helper()
	const (
		str  = descriptorpb.FieldDescriptorProto_TYPE_STRING
		i32  = descriptorpb.FieldDescriptorProto_TYPE_INT32
		i64  = descriptorpb.FieldDescriptorProto_TYPE_INT64
		dbl  = descriptorpb.FieldDescriptorProto_TYPE_DOUBLE
		msgT = descriptorpb.FieldDescriptorProto_TYPE_MESSAGE
	)
	msg := func(name string, fields ...*descriptorpb.FieldDescriptorProto) *descriptorpb.DescriptorProto {
		return &descriptorpb.DescriptorProto{Name: proto.String(name), Field: fields}
	}
	method := func(name, in string) *descriptorpb.MethodDescriptorProto {
		return &descriptorpb.MethodDescriptorProto{Name: proto.String(name), InputType: proto.String(".slipway.shop.v1." + in),
			OutputType: proto.String(".slipway.shop.v1.Item")}
	}
	adjust := msg("AdjustRequest",
		field("id", 1, str, strRules(validate.StringRules_builder{MinLen: proto.Uint64(1), MaxLen: proto.Uint64(64)}.Build())),
		field("delta", 2, i32, validate.FieldRules_builder{Int32: validate.Int32Rules_builder{
			Gte: proto.Int32(-10), Lte: proto.Int32(10), NotIn: []int32{0}}.Build()}.Build()),
		field("price", 3, dbl, validate.FieldRules_builder{Double: validate.DoubleRules_builder{Gt: proto.Float64(0)}.Build()}.Build()),
		field("note", 4, str, strRules(validate.StringRules_builder{MinLen: proto.Uint64(2), MaxLen: proto.Uint64(5)}.Build()), optional),
		field("total", 5, i64, validate.FieldRules_builder{Int64: validate.Int64Rules_builder{Gte: proto.Int64(1)}.Build()}.Build()),
	)
	adjust.OneofDecl = []*descriptorpb.OneofDescriptorProto{{Name: proto.String("_note")}}
	adjust.Field[3].OneofIndex = proto.Int32(0)
	file := &descriptorpb.FileDescriptorProto{
		Name: proto.String("slipway/shop/v1/shop.proto"), Package: proto.String("slipway.shop.v1"), Syntax: proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{
			msg("ListItemsRequest",
				field("page_size", 1, i32, validate.FieldRules_builder{Int32: validate.Int32Rules_builder{Gte: proto.Int32(0), Lte: proto.Int32(100)}.Build()}.Build()),
				field("page_token", 2, str, strRules(validate.StringRules_builder{MaxLen: proto.Uint64(512)}.Build()))),
			msg("GetItemRequest", field("id", 1, str, strRules(validate.StringRules_builder{Uuid: proto.Bool(true)}.Build()))),
			msg("Item",
				field("sku", 1, str, strRules(validate.StringRules_builder{Pattern: proto.String("^[A-Z]{3}$")}.Build())),
				field("quantity", 2, i32, validate.FieldRules_builder{Int32: validate.Int32Rules_builder{Gte: proto.Int32(1), Lte: proto.Int32(1000)}.Build()}.Build())),
			msg("ReserveRequest",
				field("order_id", 1, str, strRules(validate.StringRules_builder{MinLen: proto.Uint64(1)}.Build())),
				field("items", 2, msgT, validate.FieldRules_builder{Repeated: validate.RepeatedRules_builder{
					MinItems: proto.Uint64(1), MaxItems: proto.Uint64(50)}.Build()}.Build(), repeated, message(".slipway.shop.v1.Item")),
				field("email", 3, str, strRules(validate.StringRules_builder{Email: proto.Bool(true), MaxLen: proto.Uint64(254)}.Build()))),
			adjust,
		},
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name: proto.String("ShopService"),
			Method: []*descriptorpb.MethodDescriptorProto{
				method("ListItems", "ListItemsRequest"), method("GetItem", "GetItemRequest"),
				method("Reserve", "ReserveRequest"), method("Adjust", "AdjustRequest"),
			},
		}},
	}
	files, err := protodesc.NewFiles(&descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{file}})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// testPolicy is the policy services/<svc>/internal/rpc would declare;
// GetItem is left out, so it needs a token (Authenticated).
var testPolicy = Policy{
	"ShopService_ListItems": {Kind: "public"},
	"ShopService_Reserve":   {Kind: "internal", Services: []string{"order"}},
	"ShopService_Adjust":    {Kind: "admin"},
}

// rewritten is testDoc after Rewrite, decoded.
func rewritten(t *testing.T) map[string]any {
	t.Helper()
	out, err := Rewrite([]byte(testDoc), testFiles(t), testPolicy)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(out, &doc); err != nil {
		t.Fatalf("the output is not YAML: %v\n%s", err, out)
	}
	return doc
}

// at walks doc by keys (a string for a mapping, an int for a sequence).
func at(t *testing.T, doc any, keys ...any) any {
	t.Helper()
	cur := doc
	for i, k := range keys {
		switch k := k.(type) {
		case string:
			m, ok := cur.(map[string]any)
			if !ok {
				t.Fatalf("%v: not a mapping", keys[:i+1])
			}
			cur = m[k]
		case int:
			s, ok := cur.([]any)
			if !ok || k >= len(s) {
				t.Fatalf("%v: not a sequence that long", keys[:i+1])
			}
			cur = s[k]
		}
	}
	return cur
}

var ops = map[string][2]string{
	"ListItems": {"/v1/items", "get"},
	"GetItem":   {"/v1/items/{id}", "get"},
	"Adjust":    {"/v1/items/{id}:adjust", "post"},
	"Reserve":   {"/v1/reservations", "post"},
}

func op(t *testing.T, doc map[string]any, name string) any {
	t.Helper()
	return at(t, doc, "paths", ops[name][0], ops[name][1])
}

func TestEveryOperationAnswersProblems(t *testing.T) {
	doc := rewritten(t)
	for _, tt := range []struct {
		op       string
		statuses []string
	}{
		{"ListItems", []string{"200", "400", "503", "default"}},
		{"GetItem", []string{"200", "400", "401", "403", "404", "503", "default"}},
		{"Adjust", []string{"200", "400", "401", "403", "404", "503", "default"}},
		{"Reserve", []string{"200", "400", "401", "403", "503", "default"}},
	} {
		t.Run(tt.op, func(t *testing.T) {
			responses := at(t, op(t, doc, tt.op), "responses").(map[string]any)
			var got []string
			for status := range responses {
				got = append(got, status)
			}
			if diff := cmp.Diff(tt.statuses, got, cmpSorted); diff != "" {
				t.Errorf("statuses (-want +got):\n%s", diff)
			}
			for _, status := range tt.statuses[1:] {
				name := strings.TrimPrefix(at(t, responses, status, "$ref").(string), "#/components/responses/")
				schema := at(t, doc, "components", "responses", name, "content", "application/problem+json", "schema", "$ref")
				if schema != "#/components/schemas/Problem" {
					t.Errorf("%s answers %v, not a problem", status, schema)
				}
			}
		})
	}
	t.Run("the problem shape", func(t *testing.T) {
		problem := at(t, doc, "components", "schemas", "Problem")
		if diff := cmp.Diff([]any{"type", "title", "status", "detail", "code"}, at(t, problem, "required")); diff != "" {
			t.Errorf("required (-want +got):\n%s", diff)
		}
		if got := at(t, problem, "properties", "errors", "items", "$ref"); got != "#/components/schemas/FieldViolation" {
			t.Errorf("errors items = %v", got)
		}
		if diff := cmp.Diff([]any{"field", "description"}, at(t, doc, "components", "schemas", "FieldViolation", "required")); diff != "" {
			t.Errorf("field violation required (-want +got):\n%s", diff)
		}
		if at(t, doc, "components", "responses", "Unauthorized", "headers", "WWW-Authenticate") == nil {
			t.Error("401 does not declare WWW-Authenticate")
		}
	})
}

var cmpSorted = cmp.Transformer("sort", func(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
})

func TestSecurityFollowsThePolicy(t *testing.T) {
	doc := rewritten(t)
	bearer := map[string]any{"bearerAuth": []any{}}
	for _, tt := range []struct {
		op, access string
		security   []any
	}{
		{"ListItems", "public", []any{map[string]any{}, bearer}},
		{"GetItem", "authenticated", []any{bearer}},
		{"Adjust", "admin", []any{bearer}},
		{"Reserve", "internal(order)", []any{bearer}},
	} {
		t.Run(tt.op, func(t *testing.T) {
			o := op(t, doc, tt.op)
			if diff := cmp.Diff(tt.security, at(t, o, "security")); diff != "" {
				t.Errorf("security (-want +got):\n%s", diff)
			}
			if got := at(t, o, "x-slipway-access"); got != tt.access {
				t.Errorf("x-slipway-access = %v, want %s", got, tt.access)
			}
			if desc, _ := at(t, o, "description").(string); !strings.Contains(desc, "Access: "+strings.Split(tt.access, "(")[0]) {
				t.Errorf("description %q does not say the access rule", desc)
			}
		})
	}
	want := map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
	got := at(t, doc, "components", "securitySchemes", "bearerAuth").(map[string]any)
	delete(got, "description")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("bearerAuth (-want +got):\n%s", diff)
	}
}

func TestInternalOperationsAreMarked(t *testing.T) {
	doc := rewritten(t)
	for name := range ops {
		got := at(t, op(t, doc, name), "x-internal")
		if want := name == "Reserve"; (got == true) != want {
			t.Errorf("%s: x-internal = %v, want %v", name, got, want)
		}
	}
}

func TestConstraintsAreCarriedIntoSchemas(t *testing.T) {
	doc := rewritten(t)
	schemas := at(t, doc, "components", "schemas")
	prop := func(schema, name string) any { return at(t, schemas, schema, "properties", name) }
	param := func(o string, i int) any { return at(t, op(t, doc, o), "parameters", i, "schema") }
	for _, tt := range []struct {
		name   string
		schema any
		want   map[string]any
	}{
		{"int32 range on a query parameter", param("ListItems", 0), map[string]any{"minimum": 0, "maximum": 100}},
		{"string length on a query parameter", param("ListItems", 1), map[string]any{"maxLength": 512}},
		{"uuid format on a path parameter", param("GetItem", 0), map[string]any{"format": "uuid"}},
		{"lengths", prop("AdjustRequest", "id"), map[string]any{"minLength": 1, "maxLength": 64}},
		{"range and not_in", prop("AdjustRequest", "delta"), map[string]any{"minimum": -10, "maximum": 10, "not": map[string]any{"enum": []any{0}}}},
		{"exclusive minimum", prop("AdjustRequest", "price"), map[string]any{"minimum": 0, "exclusiveMinimum": true}},
		{"pattern", prop("Item", "sku"), map[string]any{"pattern": "^[A-Z]{3}$"}},
		{"email format and length", prop("ReserveRequest", "email"), map[string]any{"format": "email", "maxLength": 254}},
		{"item counts", prop("ReserveRequest", "items"), map[string]any{"minItems": 1, "maxItems": 50}},
		{"a 64-bit integer is a JSON string: no numeric range", prop("AdjustRequest", "total"), map[string]any{"minimum": nil}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for k, want := range tt.want {
				if diff := cmp.Diff(want, at(t, tt.schema, k)); diff != "" {
					t.Errorf("%s (-want +got):\n%s", k, diff)
				}
			}
		})
	}
	for _, tt := range []struct {
		schema string
		want   []any
	}{
		// note is optional; id comes from the path, so the body need not repeat it.
		{"AdjustRequest", []any{"delta", "price", "total"}},
		{"Item", []any{"sku", "quantity"}},
		{"ReserveRequest", []any{"orderId", "items", "email"}},
	} {
		t.Run("required fields of "+tt.schema, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, at(t, schemas, tt.schema, "required")); diff != "" {
				t.Errorf("required (-want +got):\n%s", diff)
			}
		})
	}
	if got := at(t, op(t, doc, "ListItems"), "parameters", 0, "required"); got != nil {
		t.Errorf("pageSize may be left out (0 is allowed), but required = %v", got)
	}
}

func TestRewriteRefusesWhatItCannotDocument(t *testing.T) {
	files := testFiles(t)
	for _, tt := range []struct {
		name, doc string
		policy    Policy
		want      string
	}{
		{"a policy entry for no method", testDoc, Policy{"ShopService_Gone": {Kind: "public"}}, "ShopService_Gone"},
		{"an operation with no method", strings.Replace(testDoc, "ShopService_GetItem", "ShopService_Nope", 1), testPolicy, "ShopService_Nope"},
		{"not a document", "a: b\n", testPolicy, "not an OpenAPI document"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Rewrite([]byte(tt.doc), files, tt.policy)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one naming %q", err, tt.want)
			}
		})
	}
}

func TestRewriteIsStable(t *testing.T) {
	files := testFiles(t)
	once, err := Rewrite([]byte(testDoc), files, testPolicy)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(once), "# Generated with protoc-gen-openapi, then tools/gen/openapi") {
		t.Errorf("the header does not say how the document was made:\n%.200s", once)
	}
	again, err := Rewrite([]byte(testDoc), files, testPolicy)
	if err != nil {
		t.Fatal(err)
	}
	if string(once) != string(again) {
		t.Error("two runs wrote different documents")
	}
}

func TestReadPolicy(t *testing.T) {
	write := func(t *testing.T, src string) string {
		t.Helper()
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "handler.go"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	t.Run("the rules as the services write them", func(t *testing.T) {
		dir := write(t, `package rpc
func Policy() auth.Policy {
	return auth.Policy{
		shopv1.ShopService_ListItems_FullMethodName: auth.Public,
		shopv1.ShopService_GetItem_FullMethodName:   auth.Authenticated,
		shopv1.ShopService_Reserve_FullMethodName:   auth.Internal.For("payment", "order"),
		shopv1.ShopService_Adjust_FullMethodName:    auth.Admin,
	}
}`)
		got, err := ReadPolicy(dir)
		if err != nil {
			t.Fatal(err)
		}
		want := Policy{
			"ShopService_ListItems": {Kind: "public"},
			"ShopService_GetItem":   {Kind: "authenticated"},
			"ShopService_Reserve":   {Kind: "internal", Services: []string{"order", "payment"}},
			"ShopService_Adjust":    {Kind: "admin"},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("policy (-want +got):\n%s", diff)
		}
		if got := got.Rule("ShopService_Unlisted"); got.Kind != "authenticated" {
			t.Errorf("an unlisted method gets %v, want authenticated as auth.Policy does", got)
		}
		if s := got["ShopService_Reserve"].String(); s != "internal(order,payment)" {
			t.Errorf("String() = %q", s)
		}
	})
	for _, tt := range []struct{ name, src, want string }{
		{"no policy", "package rpc\n", "found 0"},
		{"an unknown rule", "package rpc\nvar P = auth.Policy{x.S_M_FullMethodName: auth.Everyone}\n", "not an auth rule"},
		{"a key that is not a method constant", "package rpc\nvar P = auth.Policy{\"/s/M\": auth.Public}\n", "_FullMethodName"},
		{"a computed service name", "package rpc\nvar P = auth.Policy{x.S_M_FullMethodName: auth.Internal.For(name)}\n", "string literals"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadPolicy(write(t, tt.src))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}
