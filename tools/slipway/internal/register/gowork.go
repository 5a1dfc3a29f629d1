package register

import (
	"bytes"
	"fmt"
	"strings"

	"golang.org/x/mod/modfile"

	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// addToRegistry appends svc's entry to the registry array, one entry a
// line as the file keeps them, and checks the result is a valid registry.
func addToRegistry(data []byte, svc workspace.Service) ([]byte, error) {
	end := bytes.LastIndexByte(data, ']')
	if end < 0 {
		return nil, &AnchorError{workspace.RegistryFile, "closing ] of the service array"}
	}
	entry := fmt.Sprintf(`{"name": %q, "grpcPort": %d, "httpPort": %d}`, svc.Name, svc.GRPCPort, svc.HTTPPort)
	var out []byte
	if last := bytes.LastIndexByte(data[:end], '}'); last >= 0 {
		out = insert(data, last+1, ",\n  "+entry)
	} else {
		start := bytes.IndexByte(data, '[')
		if start < 0 || start > end {
			return nil, &AnchorError{workspace.RegistryFile, "opening [ of the service array"}
		}
		out = insert(data, start+1, "\n  "+entry+"\n")
	}
	if _, err := workspace.ParseRegistry(out); err != nil {
		return nil, fmt.Errorf("register %s: %w", svc.Name, err)
	}
	return out, nil
}

// addToGoWork adds a use line for services/<name> to go.work's use block:
// in its sorted place when the block is sorted, else after the last
// service.
func addToGoWork(data []byte, name string) ([]byte, error) {
	path := "./services/" + name
	wf, err := modfile.ParseWork(GoWork, data, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", GoWork, err)
	}
	for _, u := range wf.Use {
		if u.Path == path {
			return nil, fmt.Errorf("%s already uses %s", GoWork, path)
		}
	}
	text := string(data)
	open := strings.Index(text, "\nuse (\n")
	if open < 0 {
		return nil, &AnchorError{GoWork, `"use (" block`}
	}
	open += len("\nuse (\n")
	closing := strings.Index("\n"+text[open:], "\n)") // the start of the ")" line
	if closing < 0 {
		return nil, &AnchorError{GoWork, `")" closing the use block`}
	}
	closing += open
	block := text[open:closing]
	var (
		lines    = strings.SplitAfter(block, "\n")
		at       = -1 // offset of the line the new one goes before
		afterSvc = -1 // offset just past the last ./services/ line
		sorted   = true
		prev     string
		off      = open
		indent   = "\t"
	)
	for _, l := range lines {
		p := strings.TrimSpace(l)
		if p != "" && !strings.HasPrefix(p, "//") {
			if p < prev {
				sorted = false
			}
			prev = p
			indent = l[:len(l)-len(strings.TrimLeft(l, " \t"))]
			if at < 0 && p > path {
				at = off
			}
			if strings.HasPrefix(p, "./services/") {
				afterSvc = off + len(l)
			}
		}
		off += len(l)
	}
	switch {
	case !sorted && afterSvc >= 0:
		at = afterSvc
	case at < 0:
		at = closing
	}
	out := insert(data, at, indent+path+"\n")
	if _, err := modfile.ParseWork(GoWork, out, nil); err != nil {
		return nil, fmt.Errorf("%s after adding %s: %w", GoWork, path, err)
	}
	return out, nil
}
