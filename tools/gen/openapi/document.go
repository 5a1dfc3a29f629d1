package main

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// header replaces protoc-gen-openapi's first comment line: the document is
// its output, rewritten here.
const header = `Generated with protoc-gen-openapi, then tools/gen/openapi (make gen-openapi):
problem+json errors, bearer security per access policy, protovalidate constraints.`

// Rewrite returns the protoc-gen-openapi document doc with what that
// generator leaves out: every operation's error answers as RFC 9457
// problems, bearer security as policy says, internal operations marked
// (x-internal), and the protovalidate rules of files as schema constraints.
func Rewrite(doc []byte, files *protoregistry.Files, policy Policy) ([]byte, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(doc, &root); err != nil {
		return nil, fmt.Errorf("parse the document: %w", err)
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) != 1 || get(root.Content[0], "openapi") == nil {
		return nil, fmt.Errorf("not an OpenAPI document")
	}
	top := root.Content[0]
	for _, n := range []*yaml.Node{&root, top} {
		if n.HeadComment != "" {
			n.HeadComment = "# " + strings.ReplaceAll(header, "\n", "\n# ")
		}
	}
	methods, messages, err := index(files)
	if err != nil {
		return nil, err
	}
	for key, unknown := range policy {
		if _, ok := methods[key]; !ok {
			return nil, fmt.Errorf("the policy names %s, which no proto service has (%v)", key, unknown)
		}
	}
	bodyPathParams := map[string][]string{} // schema name -> path parameters its operations fill
	paths := get(top, "paths")
	if paths == nil {
		return nil, fmt.Errorf("the document has no paths")
	}
	for i := 1; i < len(paths.Content); i += 2 {
		item := paths.Content[i]
		for j := 0; j+1 < len(item.Content); j += 2 {
			op := item.Content[j+1]
			id := get(op, "operationId")
			if id == nil {
				return nil, fmt.Errorf("%s %s has no operationId", item.Content[j].Value, paths.Content[i-1].Value)
			}
			m, ok := methods[id.Value]
			if !ok {
				return nil, fmt.Errorf("operation %s: no such proto method", id.Value)
			}
			rule := policy.Rule(id.Value)
			pathParams := rewriteParameters(op, m.Input())
			secure(op, rule)
			addErrors(op, rule, len(pathParams) > 0)
			if body := get(get(get(get(op, "requestBody"), "content"), "application/json"), "schema"); body != nil {
				if r := get(body, "$ref"); r != nil {
					name := strings.TrimPrefix(r.Value, "#/components/schemas/")
					bodyPathParams[name] = append(bodyPathParams[name], pathParams...)
				}
			}
		}
	}
	components := child(top, "components")
	schemas := child(components, "schemas")
	for i := 0; i+1 < len(schemas.Content); i += 2 {
		name := schemas.Content[i].Value
		msg, ok := messages[name]
		if !ok {
			continue
		}
		if msg == nil {
			return nil, fmt.Errorf("schema %s: more than one proto message has that name", name)
		}
		constrain(schemas.Content[i+1], msg, bodyPathParams[name])
	}
	addProblem(components)
	set(child(components, "securitySchemes"), "bearerAuth", mapping(
		"type", "http", "scheme", "bearer", "bearerFormat", "JWT",
		"description", "The access token UserService.Login answers (POST /v1/sessions): Authorization: Bearer <token>."))
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(4)
	if err := enc.Encode(&root); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// index maps every method of the slipway services to its operation id
// (Service_Method) and every slipway message to its schema name (its
// simple name: nil when two messages share it).
func index(files *protoregistry.Files) (map[string]protoreflect.MethodDescriptor, map[string]protoreflect.MessageDescriptor, error) {
	methods := map[string]protoreflect.MethodDescriptor{}
	messages := map[string]protoreflect.MessageDescriptor{}
	var addMessages func(protoreflect.MessageDescriptors)
	addMessages = func(ms protoreflect.MessageDescriptors) {
		for i := range ms.Len() {
			m := ms.Get(i)
			name := string(m.Name())
			if _, dup := messages[name]; dup {
				messages[name] = nil
			} else {
				messages[name] = m
			}
			addMessages(m.Messages())
		}
	}
	files.RangeFiles(func(f protoreflect.FileDescriptor) bool {
		if !strings.HasPrefix(string(f.Package()), "slipway.") {
			return true
		}
		addMessages(f.Messages())
		for i := range f.Services().Len() {
			s := f.Services().Get(i)
			for j := range s.Methods().Len() {
				m := s.Methods().Get(j)
				methods[string(s.Name())+"_"+string(m.Name())] = m
			}
		}
		return true
	})
	if len(methods) == 0 {
		return nil, nil, fmt.Errorf("the descriptors hold no slipway service")
	}
	return methods, messages, nil
}

// fieldByJSON finds msg's field by its JSON name or its proto name.
func fieldByJSON(msg protoreflect.MessageDescriptor, name string) protoreflect.FieldDescriptor {
	if fd := msg.Fields().ByJSONName(name); fd != nil {
		return fd
	}
	return msg.Fields().ByName(protoreflect.Name(name))
}

// rewriteParameters puts the rules of input's fields on op's path and query
// parameters, marks query parameters a request must send as required, and
// returns the names of the path parameters.
func rewriteParameters(op *yaml.Node, input protoreflect.MessageDescriptor) []string {
	var pathParams []string
	params := get(op, "parameters")
	if params == nil {
		return nil
	}
	for _, p := range params.Content {
		name, in := get(p, "name"), get(p, "in")
		if name == nil || in == nil {
			continue
		}
		if in.Value == "path" {
			pathParams = append(pathParams, name.Value)
		}
		fd := fieldByJSON(input, name.Value)
		if fd == nil {
			continue
		}
		r := fieldRules(fd)
		applyRules(get(p, "schema"), fd, r)
		if in.Value == "query" && mustBeSent(fd, r) {
			set(p, "required", boolean(true))
		}
	}
	return pathParams
}

// constrain puts the rules of msg's fields on schema's properties and lists
// the fields a message must carry as required, except those a path
// parameter fills (pathParams: the request body need not repeat them).
func constrain(schema *yaml.Node, msg protoreflect.MessageDescriptor, pathParams []string) {
	props := get(schema, "properties")
	if props == nil {
		return
	}
	required := get(schema, "required")
	var names []string
	if required != nil {
		for _, n := range required.Content {
			names = append(names, n.Value)
		}
	}
	for i := 0; i+1 < len(props.Content); i += 2 {
		name := props.Content[i].Value
		fd := fieldByJSON(msg, name)
		if fd == nil {
			continue
		}
		r := fieldRules(fd)
		applyRules(props.Content[i+1], fd, r)
		if mustBeSent(fd, r) && !slices.Contains(pathParams, name) && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return
	}
	list := sequence()
	for _, n := range names {
		list.Content = append(list.Content, str(n))
	}
	// required goes right after properties, where a reader looks for it.
	for i := 0; i+1 < len(schema.Content); i += 2 {
		if schema.Content[i].Value == "required" {
			schema.Content = slices.Delete(schema.Content, i, i+2)
			break
		}
	}
	for i := 0; i+1 < len(schema.Content); i += 2 {
		if schema.Content[i].Value == "properties" {
			schema.Content = slices.Insert(schema.Content, i+2, str("required"), list)
			return
		}
	}
}
