package addrpc

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const inventoryProto = "api/proto/slipway/inventory/v1/inventory.proto"

// The rpc goes last in the service block and the messages at the end of
// the file; every byte of the original stays where it was.
func TestNewAddsTheRPCAndItsMessagesAndKeepsTheRestOfTheProto(t *testing.T) {
	root := fixture(t, "inventory")
	orig := string(readFile(t, root, inventoryProto))

	p, err := New(root, "inventory", "ArchiveProduct")
	require.NoError(t, err)
	f := file(t, p, inventoryProto)
	assert.False(t, f.New)

	serviceEnd := strings.Index(orig, "\n}\n") + 1 // the real file's service is its first block
	require.Contains(t, orig[:serviceEnd], "service InventoryService {")
	want := orig[:serviceEnd] +
		`  // ArchiveProduct is not written yet: say here what it does, for whom,
  // and which errors it answers.
  rpc ArchiveProduct(ArchiveProductRequest) returns (ArchiveProductResponse) {
    option (google.api.http) = {
      post: "/v1/inventory:archiveProduct"
      body: "*"
    };
  }
` + orig[serviceEnd:] + `
// ArchiveProductRequest is what ArchiveProduct takes.
message ArchiveProductRequest {
  // Add its fields here, each with the buf.validate rules that bound it
  // (the platform's validation interceptor refuses a request that breaks them).
}

// ArchiveProductResponse is what ArchiveProduct answers.
message ArchiveProductResponse {
  // Add its fields here.
}
`
	assert.Equal(t, want, string(f.Data))

	edited, err := parseProto(f.Data)
	require.NoError(t, err)
	assert.Equal(t, []string{"ListProducts", "GetProduct", "Reserve", "Release", "AdjustStock", "ArchiveProduct"}, edited.rpcs)
	assert.Subset(t, edited.types, []string{"ArchiveProductRequest", "ArchiveProductResponse"})
}

// A binding follows the file's custom methods: lowerCamel verbs as AIP-136
// writes them (and the repo does, ":adjustStock"), kebab-case where the
// file's verbs are, a path segment where the file has no verbs but
// hyphenated segments.
func TestHTTPPathFollowsTheFilesBindings(t *testing.T) {
	for _, tc := range []struct {
		name  string
		paths []string
		want  string
	}{
		{"lowerCamel verbs", []string{"/v1/products", "/v1/products/{product_id}:adjustStock"}, "/v1/shop:archiveProduct"},
		{"kebab verbs", []string{"/v1/products/{id}:adjust-stock"}, "/v1/shop:archive-product"},
		{"hyphenated segments, no verbs", []string{"/v1/gift-cards/{id}"}, "/v1/shop/archive-product"},
		{"no verbs, no hyphens", []string{"/v1/users", "/v1/users/{id}"}, "/v1/shop:archiveProduct"},
		{"no bindings", nil, "/v1/shop:archiveProduct"},
		{"a hyphen in a variable is no hyphenated segment", []string{"/v1/{name=gift-cards/*}"}, "/v1/shop:archiveProduct"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &protoFile{httpPaths: tc.paths}
			assert.Equal(t, tc.want, p.httpPath("shop", "ArchiveProduct"))
		})
	}
}

// The real user proto binds no custom method: the new one is one.
func TestNewBindsAPostCustomMethodInTheUserProto(t *testing.T) {
	root := fixture(t, "user")
	p, err := New(root, "user", "ExportMyData")
	require.NoError(t, err)
	data := string(file(t, p, "api/proto/slipway/user/v1/user.proto").Data)
	assert.Contains(t, data, "  rpc ExportMyData(ExportMyDataRequest) returns (ExportMyDataResponse) {\n    option (google.api.http) = {\n      post: \"/v1/user:exportMyData\"\n      body: \"*\"\n    };\n  }\n}\n")
}

// Keywords in comments and strings are not declarations, and a file
// without the HTTP annotations import gets it.
func TestWithMethodReadsPastCommentsAndAddsTheAnnotationsImport(t *testing.T) {
	src := `syntax = "proto3";

package slipway.shop.v1;

import "google/protobuf/timestamp.proto";

option go_package = "example.com/shop/v1;shopv1";

/* service Decoy { rpc Hidden(A) returns (B); } */
service ShopService {
	// rpc Commented(A) returns (B);
	rpc Ping(PingRequest) returns (PingResponse);
}

message PingRequest { string note = 1; } // message Fake {}
message PingResponse {}`
	p, err := parseProto([]byte(src))
	require.NoError(t, err)
	assert.Equal(t, "ShopService", p.service)
	assert.Equal(t, []string{"Ping"}, p.rpcs)
	assert.Equal(t, []string{"PingRequest", "PingResponse"}, p.types)
	assert.Equal(t, "example.com/shop/v1", p.goPackage)
	assert.False(t, p.hasHTTP)

	out := string(p.withMethod("Archive", "/v1/shop:archive"))
	assert.Contains(t, out, "import \"google/protobuf/timestamp.proto\";\nimport \"google/api/annotations.proto\";\n")
	assert.Contains(t, out, "\trpc Ping(PingRequest) returns (PingResponse);\n\t// Archive is not written yet", "the rpc is indented as the service's")
	assert.True(t, strings.HasPrefix(out[strings.Index(out, "message PingResponse {}"):], "message PingResponse {}\n\n// ArchiveRequest"), "a newline ends the old last line")
	again, err := parseProto([]byte(out))
	require.NoError(t, err)
	assert.Equal(t, []string{"Ping", "Archive"}, again.rpcs)
	assert.True(t, again.hasHTTP)
}

func TestParseProtoRefusesWhatItCannotEdit(t *testing.T) {
	for _, tc := range []struct{ name, src, msg string }{
		{"two services", `option go_package = "x/v1"; service A {} service B {}`, "want one service in the file, found 2"},
		{"no service", `option go_package = "x/v1"; message A {}`, "want one service in the file, found 0"},
		{"no go_package", `service A {}`, "no go_package option"},
		{"unclosed service", `option go_package = "x/v1"; service A { rpc B(C) returns (D);`, "service A is not closed"},
		{"unterminated comment", `service A {} /* open`, "offset 13: unterminated comment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseProto([]byte(tc.src))
			assert.EqualError(t, err, tc.msg)
		})
	}
}
