package register

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

var (
	// clientsImport is the import of a service's generated descriptor.
	clientsImport = regexp.MustCompile(`(?m)^import \{ [A-Za-z0-9]+Service \} from "\.\./gen/slipway/([a-z0-9]+)/v1/[a-z0-9]+_pb";\n`)
)

// addToClients adds the import of name's generated service, its field of
// Clients and its client in makeClients.
func addToClients(data []byte, name string) ([]byte, error) {
	const file = ClientsFile
	s := string(data)
	t := workspace.Title(name) + "Service"
	path := "../gen/slipway/" + name + "/v1/" + name + "_pb"
	if strings.Contains(s, `"`+path+`"`) {
		return nil, fmt.Errorf("%s already imports %s", file, path)
	}
	imports := clientsImport.FindAllStringSubmatchIndex(s, -1)
	if imports == nil {
		return nil, &AnchorError{file, `import { <Svc>Service } from "../gen/slipway/<svc>/v1/<svc>_pb"`}
	}
	at := imports[len(imports)-1][1]
	for _, m := range imports {
		if s[m[2]:m[3]] > name {
			at = m[0]
			break
		}
	}
	ins := []insertion{{at, fmt.Sprintf("import { %s } from %q;\n", t, path)}}

	iface, err := blockEnd(s, "export interface Clients {")
	if err != nil {
		return nil, &AnchorError{file, "interface Clients { ... }"}
	}
	ins = append(ins, insertion{iface.at, iface.indent + name + ": Client<typeof " + t + ">;\n"})

	fn := strings.Index(s, "export function makeClients(")
	if fn < 0 {
		return nil, &AnchorError{file, "function makeClients"}
	}
	ret, err := blockEnd(s[fn:], "return {")
	if err != nil {
		return nil, &AnchorError{file, "return { ... } in makeClients"}
	}
	ins = append(ins, insertion{fn + ret.at, ret.indent + name + ": createClient(" + t + ", transport(url(" + strconv.Quote(name) + "))),\n"})
	return []byte(apply(s, ins)), nil
}

// entryEnd is where a block's last entry ends, and the indent of its entries.
type entryEnd struct {
	at     int
	indent string
}

// blockEnd finds the line that opens a block (ending in "{"), and returns
// the start of the line that closes it (its "}" at the opening's indent),
// with the indent of the entries inside.
func blockEnd(s, opening string) (entryEnd, error) {
	i := strings.Index(s, opening+"\n")
	if i < 0 {
		return entryEnd{}, fmt.Errorf("no %q", opening)
	}
	outer := lineIndent(s, i)
	body := i + len(opening) + 1
	closeAt := strings.Index(s[body:], "\n"+outer+"}")
	if closeAt < 0 {
		return entryEnd{}, fmt.Errorf("no } closing %q", opening)
	}
	at := body + closeAt + 1
	indent := outer + "  "
	if closeAt > 0 {
		indent = lineIndent(s, body)
	}
	return entryEnd{at, indent}, nil
}
