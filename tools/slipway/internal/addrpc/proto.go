package addrpc

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// protoToken is one lexical token of a .proto file: an identifier (dotted names
// come as several), a string literal (text keeps its quotes), a number or
// one punctuation character. Comments and white space are not tokens.
type protoToken struct {
	text     string
	off, end int // byte offsets in the source
}

// lexProto splits src into tokens, skipping comments, so that a keyword in
// a comment or a string is never mistaken for a declaration.
func lexProto(src []byte) ([]protoToken, error) {
	var toks []protoToken
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		case bytes.HasPrefix(src[i:], []byte("//")):
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case bytes.HasPrefix(src[i:], []byte("/*")):
			end := bytes.Index(src[i+2:], []byte("*/"))
			if end < 0 {
				return nil, fmt.Errorf("offset %d: unterminated comment", i)
			}
			i += 2 + end + 2
		case c == '"' || c == '\'':
			j := i + 1
			for j < len(src) && src[j] != c && src[j] != '\n' {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(src) || src[j] != c {
				return nil, fmt.Errorf("offset %d: unterminated string", i)
			}
			toks = append(toks, protoToken{string(src[i : j+1]), i, j + 1})
			i = j + 1
		case isWordByte(c):
			j := i
			for j < len(src) && isWordByte(src[j]) {
				j++
			}
			toks = append(toks, protoToken{string(src[i:j]), i, j})
			i = j
		default:
			toks = append(toks, protoToken{string(c), i, i + 1})
			i++
		}
	}
	return toks, nil
}

func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// protoFile is what New needs to know of a service's .proto file.
type protoFile struct {
	src        []byte
	goPackage  string   // the go_package option's import path
	service    string   // the service's name, e.g. InventoryService
	rpcs       []string // the service's methods
	types      []string // top-level messages and enums
	httpPaths  []string // the paths of the service's google.api.http bindings
	hasHTTP    bool     // google/api/annotations.proto is imported
	closeBrace int      // offset of the "}" that ends the service
	indent     string   // how the service indents its rpcs
	lastImport int      // end of the last import statement (or package statement), -1 if none
}

// parseProto reads the declarations of src that adding a method depends on.
// It understands the shape every Slipway proto has: one service, top-level
// messages and enums, and options.
func parseProto(src []byte) (*protoFile, error) {
	toks, err := lexProto(src)
	if err != nil {
		return nil, err
	}
	p := &protoFile{src: src, lastImport: -1}
	services := 0
	depth := 0
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch t.text {
		case "{":
			depth++
			continue
		case "}":
			depth--
			continue
		}
		if depth != 0 {
			continue
		}
		next := func(k int) string {
			if i+k < len(toks) {
				return toks[i+k].text
			}
			return ""
		}
		switch t.text {
		case "package", "import":
			if end := endOfStatement(toks, i); end > 0 && (t.text == "import" || p.lastImport < 0) {
				p.lastImport = end
			}
			if t.text == "import" && slices.Contains([]string{`"google/api/annotations.proto"`, `'google/api/annotations.proto'`}, lastString(toks, i)) {
				p.hasHTTP = true
			}
		case "option":
			if next(1) == "go_package" && next(2) == "=" {
				v, err := strconv.Unquote(next(3))
				if err != nil {
					return nil, fmt.Errorf("go_package: %w", err)
				}
				p.goPackage, _, _ = strings.Cut(v, ";")
			}
		case "message", "enum":
			p.types = append(p.types, next(1))
		case "service":
			services++
			p.service = next(1)
			if next(2) != "{" {
				return nil, fmt.Errorf("service %s: want { after its name", p.service)
			}
			end, err := p.readService(toks, i+2)
			if err != nil {
				return nil, err
			}
			i = end
		}
	}
	switch {
	case services != 1:
		return nil, fmt.Errorf("want one service in the file, found %d", services)
	case p.goPackage == "":
		return nil, fmt.Errorf("no go_package option")
	}
	return p, nil
}

// readService reads the service block whose "{" is toks[open] and returns
// the index of its closing "}".
func (p *protoFile) readService(toks []protoToken, open int) (int, error) {
	depth := 0
	for i := open; i < len(toks); i++ {
		switch toks[i].text {
		case "{":
			depth++
		case "}":
			depth--
			if depth == 0 {
				p.closeBrace = toks[i].off
				return i, nil
			}
		case "rpc":
			if depth == 1 && i+1 < len(toks) {
				p.rpcs = append(p.rpcs, toks[i+1].text)
				if p.indent == "" {
					p.indent = indentOf(p.src, toks[i].off)
				}
			}
		case "get", "put", "post", "delete", "patch":
			if depth > 1 && i+2 < len(toks) && toks[i+1].text == ":" {
				if path, err := strconv.Unquote(toks[i+2].text); err == nil {
					p.httpPaths = append(p.httpPaths, path)
				}
			}
		}
	}
	return 0, fmt.Errorf("service %s is not closed", p.service)
}

// endOfStatement is the offset just past the ";" ending the statement that
// starts at toks[i], or -1.
func endOfStatement(toks []protoToken, i int) int {
	for ; i < len(toks); i++ {
		if toks[i].text == ";" {
			return toks[i].end
		}
	}
	return -1
}

// lastString is the last protoToken before the ";" of the statement at toks[i].
func lastString(toks []protoToken, i int) string {
	for ; i+1 < len(toks); i++ {
		if toks[i+1].text == ";" {
			return toks[i].text
		}
	}
	return ""
}

// indentOf is the white space that starts the line holding offset off, when
// only white space precedes off on it.
func indentOf(src []byte, off int) string {
	start := bytes.LastIndexByte(src[:off], '\n') + 1
	if s := string(src[start:off]); strings.TrimLeft(s, " \t") == "" {
		return s
	}
	return ""
}

// httpPath is the POST path for method, in the style of the file's custom
// methods: "/v1/<service>:<verb>" (AIP-136, as ":adjustStock" and ":cancel"
// are written), the verb kebab-case if the file's verbs are; or
// "/v1/<service>/<kebab>" when the file has no custom methods and already
// writes hyphenated path segments.
func (p *protoFile) httpPath(service, method string) string {
	kebabVerbs, hyphenated, colonVerbs := false, false, false
	for _, path := range p.httpPaths {
		segs := strings.Split(path, "/")
		last := segs[len(segs)-1]
		if i := strings.LastIndexByte(last, ':'); i >= 0 && !strings.Contains(last[i:], "}") {
			colonVerbs = true
			kebabVerbs = kebabVerbs || strings.Contains(last[i:], "-")
		}
		for _, s := range segs {
			hyphenated = hyphenated || !strings.Contains(s, "{") && strings.Contains(s, "-")
		}
	}
	switch {
	case colonVerbs && kebabVerbs:
		return "/v1/" + service + ":" + kebab(method)
	case !colonVerbs && hyphenated:
		return "/v1/" + service + "/" + kebab(method)
	}
	return "/v1/" + service + ":" + lowerCamel(method)
}

// withMethod returns the file with method added: its rpc, bound to an HTTP
// POST at path, as the service's last, and its request and response
// messages at the end of the file. Every other byte stays as it was.
func (p *protoFile) withMethod(method, path string) []byte {
	indent := p.indent
	if indent == "" {
		indent = "  "
	}
	var rpc strings.Builder
	for _, line := range []string{
		"// " + method + " is not written yet: say here what it does, for whom,",
		"// and which errors it answers.",
		"rpc " + method + "(" + method + "Request) returns (" + method + "Response) {",
		"  option (google.api.http) = {",
		"    post: " + strconv.Quote(path),
		`    body: "*"`,
		"  };",
		"}",
	} {
		rpc.WriteString(indent + line + "\n")
	}

	src := p.src
	var out bytes.Buffer
	lineStart := bytes.LastIndexByte(src[:p.closeBrace], '\n') + 1
	head := p.closeBrace
	if indentOf(src, p.closeBrace) != "" || lineStart == p.closeBrace {
		head = lineStart // "}" starts its line: the rpc goes on the lines before
	}
	if !p.hasHTTP && p.lastImport >= 0 {
		out.Write(src[:p.lastImport])
		out.WriteString("\nimport \"google/api/annotations.proto\";")
		out.Write(src[p.lastImport:head])
	} else {
		out.Write(src[:head])
	}
	if head != lineStart {
		out.WriteString("\n")
	}
	out.WriteString(rpc.String())
	out.Write(src[head:])

	if !bytes.HasSuffix(src, []byte("\n")) {
		out.WriteString("\n")
	}
	for _, m := range []struct{ name, what, todo string }{
		{method + "Request", "takes", "Add its fields here, each with the buf.validate rules that bound it\n// (the platform's validation interceptor refuses a request that breaks them)."},
		{method + "Response", "answers", "Add its fields here."},
	} {
		fmt.Fprintf(&out, "\n// %s is what %s %s.\nmessage %s {\n", m.name, method, m.what, m.name)
		for line := range strings.SplitSeq("// "+m.todo, "\n") {
			out.WriteString(indent + line + "\n")
		}
		out.WriteString("}\n")
	}
	return out.Bytes()
}
