package register

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

var (
	// dockerModuleCopy is a service's line in the Dockerfile's module layer.
	dockerModuleCopy = regexp.MustCompile(`(?m)^COPY services/([a-z0-9]+)/go\.mod services/[a-z0-9]+/go\.sum services/[a-z0-9]+/\n`)
	// dockerStage is a service's stage: FROM line and the lines up to a blank one.
	dockerStage = regexp.MustCompile(`(?m)^FROM runtime-base AS svc-[a-z0-9]+\n(?:.+\n)*`)
	// dockerServiceList is the comment naming every service SERVICE can be.
	dockerServiceList = regexp.MustCompile(`(?m)^# SERVICE is (?:[a-z0-9]+, )*[a-z0-9]+( or [a-z0-9]+)\.`)
)

// addToDockerfile adds svc's go.mod and go.sum to the module layer, its
// svc-<name> stage after the last one, and its name to the comment that
// lists the services.
func addToDockerfile(data []byte, svc workspace.Service) ([]byte, error) {
	const file = Dockerfile
	s := string(data)
	n := svc.Name
	if strings.Contains(s, "AS svc-"+n+"\n") {
		return nil, fmt.Errorf("%s already has a svc-%s stage", file, n)
	}
	copies := dockerModuleCopy.FindAllStringIndex(s, -1)
	if copies == nil {
		return nil, &AnchorError{file, "line COPY services/<svc>/go.mod services/<svc>/go.sum services/<svc>/"}
	}
	stages := dockerStage.FindAllStringIndex(s, -1)
	if stages == nil {
		return nil, &AnchorError{file, "stage FROM runtime-base AS svc-<svc>"}
	}
	list := dockerServiceList.FindStringSubmatchIndex(s)
	if list == nil {
		return nil, &AnchorError{file, `comment "# SERVICE is <svc>, <svc> or <svc>."`}
	}
	out := apply(s, []insertion{
		{copies[len(copies)-1][1], fmt.Sprintf("COPY services/%s/go.mod services/%s/go.sum services/%s/\n", n, n, n)},
		{stages[len(stages)-1][1], fmt.Sprintf("\nFROM runtime-base AS svc-%s\nENV GRPC_ADDR=:%d HTTP_ADDR=:%d\nEXPOSE %d %d\n",
			n, svc.GRPCPort, svc.HTTPPort, svc.GRPCPort, svc.HTTPPort)},
	})
	// "user, order or notification." -> "user, order, notification or widgets."
	list = dockerServiceList.FindStringSubmatchIndex(out)
	or, last := list[2], list[3]
	out = out[:or] + ", " + out[or+len(" or "):last] + " or " + n + out[last:]
	return []byte(out), nil
}

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
