package register

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// insertion is text to insert at an offset; several apply from the end.
type insertion struct {
	at   int
	text string
}

// apply inserts from the last offset back, so offsets stay true; texts at
// one offset end up in the order they were given.
func apply(s string, ins []insertion) string {
	order := make([]int, len(ins))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		if ins[a].at != ins[b].at {
			return ins[b].at - ins[a].at
		}
		return b - a
	})
	for _, i := range order {
		s = s[:ins[i].at] + ins[i].text + s[ins[i].at:]
	}
	return s
}

// topObject is the offset of the file's outermost object.
func topObject(file, s string) (int, error) {
	i := skipSpace(s, 0)
	if i >= len(s) || s[i] != '{' {
		return 0, &AnchorError{file, "top-level object"}
	}
	return i, nil
}

// composeDebugPort matches a dlv port compose publishes (127.0.0.1:2346:2345).
var composeDebugPort = regexp.MustCompile(`"127\.0\.0\.1:(\d+):2345"`)

// addToLaunch adds a launch configuration for name like the other
// services', its "<name>: attach to compose" configuration when every
// service has one, and name to the compound that launches every service.
func addToLaunch(root string, data []byte, name string) ([]byte, error) {
	const file = LaunchFile
	s := string(data)
	top, err := topObject(file, s)
	if err != nil {
		return nil, err
	}
	cfgs, ok := field(s, top, "configurations")
	if !ok || s[cfgs.start] != '[' {
		return nil, &AnchorError{file, `"configurations" array`}
	}
	elems, err := elements(s, cfgs.start)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var (
		launched   []string
		lastLaunch = -1
		attach     = map[string]span{} // service -> its attach-to-compose config
		lastAttach = -1
		maxPort    = 0
	)
	for i, e := range elems {
		if s[e.start] != '{' {
			continue
		}
		cname := stringField(s, e.start, "name")
		if v, ok := field(s, e.start, "port"); ok {
			p, _ := strconv.Atoi(s[v.start:v.end])
			maxPort = max(maxPort, p)
		}
		switch stringField(s, e.start, "request") {
		case "launch":
			if stringField(s, e.start, "program") == "${workspaceFolder}/services/"+cname+"/cmd/"+cname {
				launched = append(launched, cname)
				lastLaunch = i
			}
		case "attach":
			if svc, ok := strings.CutSuffix(cname, ": attach to compose"); ok {
				attach[svc] = e
				lastAttach = i
			}
		}
	}
	if lastLaunch < 0 {
		return nil, &AnchorError{file, `launch configuration of a service ("program": "${workspaceFolder}/services/<svc>/cmd/<svc>")`}
	}
	if slices.Contains(launched, name) {
		return nil, fmt.Errorf("%s already launches %s", file, name)
	}

	var ins []insertion
	prev := elems[lastLaunch]
	ind := lineIndent(s, prev.start)
	in := ind + "  "
	if ms, err := members(s, prev.start); err == nil && len(ms) > 0 {
		in = lineIndent(s, ms[0].keyStart)
	}
	step := strings.TrimPrefix(in, ind)
	lines := []string{
		`"name": ` + strconv.Quote(name),
		`"type": "go"`,
		`"request": "launch"`,
		`"mode": "debug"`,
		`"program": "${workspaceFolder}/services/` + name + `/cmd/` + name + `"`,
		`"cwd": "${workspaceFolder}"`,
		`"env": {` + "\n" +
			in + step + `"LOG_LEVEL": "debug",` + "\n" +
			in + step + `"DRAIN_DELAY": "0s",` + "\n" +
			in + step + `"DATABASE_URL": "sqlite://.slipway/data/` + name + `.db"` + "\n" +
			in + `}`,
	}
	ins = append(ins, insertion{prev.end, ",\n" + ind + "{\n" + in + strings.Join(lines, ",\n"+in) + "\n" + ind + "}"})

	// A debug attach configuration when every service has one, on the port
	// after the highest any configuration or compose's override uses.
	everyAttach := len(attach) > 0 && !slices.ContainsFunc(launched, func(svc string) bool { _, ok := attach[svc]; return !ok })
	if everyAttach {
		port := max(maxPort, highestComposeDebugPort(root)) + 1
		last := elems[lastAttach]
		lastSvc, _ := strings.CutSuffix(stringField(s, last.start, "name"), ": attach to compose")
		text := s[last.start:last.end]
		nameV, _ := field(s, last.start, "name")
		portV, ok := field(s, last.start, "port")
		if !ok {
			return nil, &AnchorError{file, `"port" of configuration "` + lastSvc + `: attach to compose"`}
		}
		// Clone the last one, with its name and port replaced.
		clone := text[:portV.start-last.start] + strconv.Itoa(port) + text[portV.end-last.start:]
		clone = clone[:nameV.start-last.start] + strconv.Quote(name+": attach to compose") + clone[nameV.end-last.start:]
		ins = append(ins, insertion{last.end, ",\n" + lineIndent(s, last.start) + clone})
		// The header comment lists the compose ports: "2349 notification)".
		lastPort := s[portV.start:portV.end]
		if loc := regexp.MustCompile(`\b` + lastPort + `\s+` + regexp.QuoteMeta(lastSvc) + `\)`).FindStringIndex(s[:top]); loc != nil {
			ins = append(ins, insertion{loc[1] - 1, fmt.Sprintf(", %d %s", port, name)})
		}
	}

	// The compound that launches every service.
	compound := -1
	if comps, ok := field(s, top, "compounds"); ok && s[comps.start] == '[' {
		celems, err := elements(s, comps.start)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		for _, c := range celems {
			list, ok := field(s, c.start, "configurations")
			if !ok || s[list.start] != '[' {
				continue
			}
			items, err := elements(s, list.start)
			if err != nil || len(items) == 0 {
				continue
			}
			var names []string
			for _, it := range items {
				n, _ := strconv.Unquote(s[it.start:it.end])
				names = append(names, n)
			}
			if !slices.ContainsFunc(launched, func(svc string) bool { return !slices.Contains(names, svc) }) {
				compound = items[len(items)-1].end
				break
			}
		}
	}
	if compound < 0 {
		return nil, &AnchorError{file, `compound whose "configurations" list every service`}
	}
	ins = append(ins, insertion{compound, ", " + strconv.Quote(name)})

	out := apply(s, ins)
	if err := checkJSONC(file, out); err != nil {
		return nil, err
	}
	return []byte(out), nil
}

// highestComposeDebugPort is the highest dlv port compose's override
// publishes, 0 when there is none, so the editor's attach configuration
// and compose agree on a new service's port.
func highestComposeDebugPort(root string) int {
	data, err := os.ReadFile(filepath.Join(root, "deploy", "compose", "docker-compose.override.yml")) //nolint:gosec // G304: the workspace's compose override
	if err != nil {
		return 0
	}
	highest := 0
	for _, m := range composeDebugPort.FindAllStringSubmatch(string(data), -1) {
		p, _ := strconv.Atoi(m[1])
		highest = max(highest, p)
	}
	return highest
}

// addToDevcontainer forwards svc's two ports, each labelled, in their
// sorted places.
func addToDevcontainer(data []byte, svc workspace.Service) ([]byte, error) {
	const file = DevcontainerFile
	s := string(data)
	top, err := topObject(file, s)
	if err != nil {
		return nil, err
	}
	fwd, ok := field(s, top, "forwardPorts")
	if !ok || s[fwd.start] != '[' {
		return nil, &AnchorError{file, `"forwardPorts" array`}
	}
	attrs, ok := field(s, top, "portsAttributes")
	if !ok || s[attrs.start] != '{' {
		return nil, &AnchorError{file, `"portsAttributes" object`}
	}
	ports, err := elements(s, fwd.start)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	labels, err := members(s, attrs.start)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(labels) == 0 {
		return nil, &AnchorError{file, `labelled port in "portsAttributes"`}
	}
	var ins []insertion
	for _, p := range []struct {
		port int
		kind string
	}{{svc.HTTPPort, "HTTP"}, {svc.GRPCPort, "gRPC"}} {
		// forwardPorts: after the highest lower port.
		after := -1
		for _, e := range ports {
			n, err := strconv.Atoi(s[e.start:e.end])
			if err != nil {
				continue
			}
			if n == p.port {
				return nil, fmt.Errorf("%s already forwards port %d", file, p.port)
			}
			if n < p.port {
				after = e.end
			}
		}
		switch {
		case after >= 0:
			ins = append(ins, insertion{after, ", " + strconv.Itoa(p.port)})
		case len(ports) > 0:
			ins = append(ins, insertion{ports[0].start, strconv.Itoa(p.port) + ", "})
		default:
			ins = append(ins, insertion{fwd.start + 1, strconv.Itoa(p.port)})
		}
		// portsAttributes: a line after the highest lower port's.
		entry := fmt.Sprintf(`%q: { "label": %q, "onAutoForward": "silent" }`, strconv.Itoa(p.port), svc.Name+" "+p.kind)
		var prev *member
		for i, m := range labels {
			n, err := strconv.Atoi(m.key)
			if err != nil {
				continue
			}
			if n == p.port {
				return nil, fmt.Errorf("%s already labels port %d", file, p.port)
			}
			if n < p.port {
				prev = &labels[i]
			}
		}
		if prev != nil {
			ins = append(ins, insertion{prev.value.end, ",\n" + lineIndent(s, prev.keyStart) + entry})
		} else {
			ins = append(ins, insertion{labels[0].keyStart, entry + ",\n" + lineIndent(s, labels[0].keyStart)})
		}
	}
	out := apply(s, ins)
	if err := checkJSONC(file, out); err != nil {
		return nil, err
	}
	return []byte(out), nil
}
