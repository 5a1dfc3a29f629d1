package addrpc

import (
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// policyKeys are the keys of the one auth.Policy literal in src, in order,
// and the value of the last one.
func policyKeys(t *testing.T, src []byte) (keys []string, last string) {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "handler.go", src, 0)
	require.NoError(t, err)
	ast.Inspect(f, func(n ast.Node) bool {
		lit, ok := n.(*ast.CompositeLit)
		if !ok || !isSelector(lit.Type, "auth", "Policy") {
			return true
		}
		for _, elt := range lit.Elts {
			kv := elt.(*ast.KeyValueExpr)
			keys = append(keys, kv.Key.(*ast.SelectorExpr).Sel.Name)
			last = string(src[kv.Value.Pos()-1 : kv.Value.End()-1])
		}
		return false
	})
	return keys, last
}

// The entry goes last in the map literal, whether the policy is a function
// (inventory) or a variable (user); nothing else in the file changes
// but the alignment gofmt gives the map.
func TestNewAddsAnAuthenticatedPolicyEntry(t *testing.T) {
	for _, tc := range []struct{ service, method, key string }{
		{"inventory", "ArchiveProduct", "InventoryService_ArchiveProduct_FullMethodName"},
		{"user", "ExportMyData", "UserService_ExportMyData_FullMethodName"},
	} {
		t.Run(tc.service, func(t *testing.T) {
			root := fixture(t, tc.service)
			handler := filepath.ToSlash(filepath.Join("services", tc.service, "internal/rpc/handler.go"))
			orig := readFile(t, root, handler)

			p, err := New(root, tc.service, tc.method)
			require.NoError(t, err)
			f := file(t, p, handler)
			assert.False(t, f.New)

			before, _ := policyKeys(t, orig)
			after, last := policyKeys(t, f.Data)
			assert.Equal(t, append(before, tc.key), after)
			assert.Equal(t, "auth.Authenticated", last)
			gofmted, err := format.Source(f.Data)
			require.NoError(t, err)
			assert.Equal(t, string(gofmted), string(f.Data), "gofmt-clean")
			assert.Equal(t, squeeze(string(orig)), squeeze(strings.Replace(string(f.Data), lineOf(string(f.Data), tc.key), "", 1)),
				"only the new entry differs, but for white space")
		})
	}
}

// squeeze drops all white space, so that gofmt's realigning compares equal.
func squeeze(s string) string { return strings.Join(strings.Fields(s), "") }

// lineOf is the line of s holding sub, with its newline.
func lineOf(s, sub string) string {
	i := strings.Index(s, sub)
	start := strings.LastIndexByte(s[:i], '\n') + 1
	end := strings.IndexByte(s[i:], '\n') + i + 1
	return s[start:end]
}

// A policy written on one line, empty or not, or with an alias for the
// auth package, still takes the entry.
func TestNewAddsThePolicyEntryToAnyLiteralLayout(t *testing.T) {
	for _, tc := range []struct{ name, policy, want string }{
		{"empty", "auth.Policy{}", "auth.Policy{\n\t\tinventoryv1.InventoryService_ArchiveProduct_FullMethodName: auth.Authenticated,\n\t}"},
		{"one line", "auth.Policy{inventoryv1.InventoryService_GetProduct_FullMethodName: auth.Public}",
			"auth.Policy{inventoryv1.InventoryService_GetProduct_FullMethodName: auth.Public,\n\t\tinventoryv1.InventoryService_ArchiveProduct_FullMethodName: auth.Authenticated,\n\t}"},
		{"one line, trailing comma and comment", "auth.Policy{inventoryv1.InventoryService_GetProduct_FullMethodName: auth.Public, /* more, later */}",
			"auth.Policy{inventoryv1.InventoryService_GetProduct_FullMethodName: auth.Public, /* more, later */\n\t\tinventoryv1.InventoryService_ArchiveProduct_FullMethodName: auth.Authenticated,\n\t}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := fixture(t, "inventory")
			rel := "services/inventory/internal/rpc/handler.go"
			src := string(readFile(t, root, rel))
			start := strings.Index(src, "auth.Policy{\n")
			end := strings.Index(src[start:], "\n\t}") + start + 3
			writeFile(t, root, rel, []byte(src[:start]+tc.policy+src[end:]))

			p, err := New(root, "inventory", "ArchiveProduct")
			require.NoError(t, err)
			assert.Contains(t, string(file(t, p, rel).Data), tc.want)
		})
	}

	t.Run("aliased auth import", func(t *testing.T) {
		root := fixture(t, "inventory")
		rel := "services/inventory/internal/rpc/handler.go"
		src := string(readFile(t, root, rel))
		src = strings.ReplaceAll(src, "auth.", "access.")
		src = strings.Replace(src, `"github.com/slipway-dev/slipway/platform/auth"`, `access "github.com/slipway-dev/slipway/platform/auth"`, 1)
		writeFile(t, root, rel, []byte(src))

		p, err := New(root, "inventory", "ArchiveProduct")
		require.NoError(t, err)
		assert.Contains(t, string(file(t, p, rel).Data), "InventoryService_ArchiveProduct_FullMethodName: access.Authenticated,\n")
	})
}

// The handler and its test are new files, gofmt-clean Go that parses, in
// the rpc package, answering and asserting Unimplemented.
func TestNewWritesAHandlerAndATestThatAnswerUnimplemented(t *testing.T) {
	root := fixture(t, "inventory")
	p, err := New(root, "inventory", "ArchiveProduct")
	require.NoError(t, err)

	handler := file(t, p, "services/inventory/internal/rpc/archive_product.go")
	test := file(t, p, "services/inventory/internal/rpc/archive_product_test.go")
	for _, f := range []File{handler, test} {
		assert.True(t, f.New, f.Path)
		parsed, err := parser.ParseFile(token.NewFileSet(), f.Path, f.Data, parser.ParseComments)
		require.NoError(t, err, f.Path)
		gofmted, err := format.Source(f.Data)
		require.NoError(t, err)
		assert.Equal(t, string(gofmted), string(f.Data), "%s is gofmt-clean", f.Path)
		for _, d := range parsed.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok {
				assert.NotEmpty(t, fn.Doc.Text(), "%s: %s has a doc comment", f.Path, fn.Name.Name)
			}
		}
	}

	h, err := parser.ParseFile(token.NewFileSet(), "", handler.Data, 0)
	require.NoError(t, err)
	assert.Equal(t, "rpc", h.Name.Name)
	fn := h.Decls[len(h.Decls)-1].(*ast.FuncDecl)
	assert.Equal(t, "ArchiveProduct", fn.Name.Name)
	assert.Equal(t, "Handler", receiverType(fn.Recv))
	assert.Equal(t, "h", fn.Recv.List[0].Names[0].Name, "the receiver is named as handler.go names it")
	assert.Contains(t, string(handler.Data), `return nil, status.Error(codes.Unimplemented, "inventory.ArchiveProduct is not implemented yet")`)
	assert.Contains(t, string(handler.Data), "api/proto/slipway/inventory/v1/inventory.proto", "the doc comment says where the messages are")

	ts, err := parser.ParseFile(token.NewFileSet(), "", test.Data, 0)
	require.NoError(t, err)
	assert.Equal(t, "rpc_test", ts.Name.Name)
	assert.Equal(t, "github.com/slipway-dev/slipway/services/inventory/internal/rpc", importPath(ts, "rpc"))
	assert.Equal(t, "github.com/slipway-dev/slipway/api/gen/go/slipway/inventory/v1", importPath(ts, "inventoryv1"))
	assert.Equal(t, "TestArchiveProductAnswersUnimplementedUntilWritten", ts.Decls[len(ts.Decls)-1].(*ast.FuncDecl).Name.Name)
	assert.Contains(t, string(test.Data), "assert.Equal(t, codes.Unimplemented, status.Code(err)")
}

// importPath is the path f imports under name.
func importPath(f *ast.File, name string) string {
	for _, imp := range f.Imports {
		path := strings.Trim(imp.Path.Value, `"`)
		if imp.Name != nil && imp.Name.Name == name || imp.Name == nil && path[strings.LastIndex(path, "/")+1:] == name {
			return path
		}
	}
	return ""
}

func TestNewPlansTheSameBytesForTheSameInput(t *testing.T) {
	root := fixture(t, "inventory", "user")
	for _, sm := range [][2]string{{"inventory", "ArchiveProduct"}, {"user", "ExportMyData"}} {
		first, err := New(root, sm[0], sm[1])
		require.NoError(t, err)
		second, err := New(root, sm[0], sm[1])
		require.NoError(t, err)
		assert.Equal(t, first, second, sm[1])
		assert.Len(t, first.Files, 4)
	}
}

func TestNextListsTheStepsInOrder(t *testing.T) {
	p, err := New(fixture(t, "inventory"), "inventory", "ArchiveProduct")
	require.NoError(t, err)
	require.Len(t, p.Next, 5)
	for i, prefix := range []string{"make gen", "edit ArchiveProductRequest and ArchiveProductResponse in api/proto/slipway/inventory/v1/inventory.proto", "implement ArchiveProduct", "update services/inventory/internal/rpc/archive_product_test.go", "choose the policy rule in services/inventory/internal/rpc/handler.go"} {
		assert.True(t, strings.HasPrefix(p.Next[i], prefix), "step %d: %q", i+1, p.Next[i])
	}
}

// Refusals plan nothing and say why; New never writes, so the tree is
// left as it was.
func TestNewRefusesAndSaysWhy(t *testing.T) {
	for _, tc := range []struct {
		name, service, method string
		setup                 func(t *testing.T, root string)
		msg                   string
	}{
		{name: "existing method", service: "inventory", method: "Reserve",
			msg: "InventoryService already has a method Reserve (api/proto/slipway/inventory/v1/inventory.proto)"},
		{name: "unknown service", service: "payments", method: "Refund",
			msg: `no service "payments": want api/proto/slipway/payments/v1/payments.proto and services/payments/internal/rpc/handler.go; services: inventory, user`},
		{name: "path in service", service: "../inventory", method: "Refund",
			msg: `no service "../inventory": a service is named as its directory under services/; services: inventory, user`},
		{name: "empty service", service: "", method: "Refund",
			msg: "the service name is empty; services: inventory, user"},
		{name: "service without a handler", service: "user", method: "Refund",
			setup: func(t *testing.T, root string) {
				require.NoError(t, os.Remove(filepath.Join(root, "services/user/internal/rpc/handler.go")))
			},
			msg: `no service "user": want api/proto/slipway/user/v1/user.proto and services/user/internal/rpc/handler.go; services: inventory`},
		{name: "lower-case method", service: "inventory", method: "archiveProduct",
			msg: `method name "archiveProduct" is not UpperCamelCase: it starts with an upper-case letter and holds only ASCII letters and digits (did you mean ArchiveProduct?)`},
		{name: "empty method", service: "inventory", method: "",
			msg: "the method name is empty: name it in UpperCamelCase, e.g. ArchiveProduct"},
		{name: "message taken", service: "inventory", method: "Reservation",
			setup: func(t *testing.T, root string) {
				f := filepath.Join(root, inventoryProto)
				src, err := os.ReadFile(f)
				require.NoError(t, err)
				require.NoError(t, os.WriteFile(f, append(src, "\nmessage ReservationRequest {}\n"...), 0o644))
			},
			msg: "api/proto/slipway/inventory/v1/inventory.proto already declares ReservationRequest: pick another method name"},
		{name: "handler method taken", service: "inventory", method: "ArchiveProduct",
			setup: func(t *testing.T, root string) {
				writeFile(t, root, "services/inventory/internal/rpc/archive.go", []byte("package rpc\n\nfunc (h *Handler) ArchiveProduct() {}\n"))
			},
			msg: "services/inventory/internal/rpc: Handler already has a method ArchiveProduct"},
		{name: "file taken", service: "inventory", method: "ArchiveProduct",
			setup: func(t *testing.T, root string) {
				writeFile(t, root, "services/inventory/internal/rpc/archive_product_test.go", []byte("package rpc_test\n"))
			},
			msg: "services/inventory/internal/rpc/archive_product_test.go exists already: a new method needs it"},
		{name: "stale policy entry", service: "inventory", method: "ArchiveProduct",
			setup: func(t *testing.T, root string) {
				rel := "services/inventory/internal/rpc/handler.go"
				src := strings.Replace(string(readFile(t, root, rel)), "auth.Policy{\n", "auth.Policy{\n\t\tinventoryv1.InventoryService_ArchiveProduct_FullMethodName: auth.Admin,\n", 1)
				writeFile(t, root, rel, []byte(src))
			},
			msg: "services/inventory/internal/rpc: the policy already has an entry for ArchiveProduct"},
		{name: "two policies", service: "inventory", method: "ArchiveProduct",
			setup: func(t *testing.T, root string) {
				writeFile(t, root, "services/inventory/internal/rpc/more.go", []byte("package rpc\n\nimport \"github.com/slipway-dev/slipway/platform/auth\"\n\nvar more = auth.Policy{}\n"))
			},
			msg: "want one auth.Policy literal, found 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := fixture(t, "inventory", "user")
			if tc.setup != nil {
				tc.setup(t, root)
			}
			before := snapshot(t, root)
			p, err := New(root, tc.service, tc.method)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.msg)
			assert.Empty(t, p.Files)
			assert.Empty(t, p.Next)
			assert.Equal(t, before, snapshot(t, root), "nothing written")
		})
	}
}

// snapshot maps every file under root to its contents.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	files := map[string]string{}
	require.NoError(t, filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		files[path] = string(data)
		return err
	}))
	return files
}
