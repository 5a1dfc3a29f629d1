package scan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// govulncheck's streaming JSON (golang.org/x/vuln/internal/govulncheck):
// one message per object, each with exactly one field set.
type message struct {
	Config *struct {
		ScannerName    string     `json:"scanner_name"`
		ScannerVersion string     `json:"scanner_version"`
		DBLastModified *time.Time `json:"db_last_modified"`
		GoVersion      string     `json:"go_version"`
	} `json:"config"`
	Progress *struct {
		Message string `json:"message"`
	} `json:"progress"`
	OSV *struct {
		ID               string   `json:"id"`
		Summary          string   `json:"summary"`
		Aliases          []string `json:"aliases"`
		DatabaseSpecific struct {
			URL string `json:"url"`
		} `json:"database_specific"`
	} `json:"osv"`
	Finding *struct {
		OSV          string  `json:"osv"`
		FixedVersion string  `json:"fixed_version"`
		Trace        []frame `json:"trace"`
	} `json:"finding"`
}

// frame is one frame of a finding's trace, the vulnerable code first.
type frame struct {
	Module   string `json:"module"`
	Version  string `json:"version"`
	Package  string `json:"package"`
	Function string `json:"function"`
	Receiver string `json:"receiver"`
	Position *struct {
		Filename string `json:"filename"` // relative to the frame's module directory
		Line     int    `json:"line"`
	} `json:"position"`
}

// moduleVulns runs govulncheck on one module, reporting its progress
// messages, and returns the module's findings merged per advisory. It fills
// in the scanner and database fields of rep from the stream's config.
func moduleVulns(ctx context.Context, goBin string, environ []string, dbURL string, m module,
	workspace []module, rep *Report, progress func(msg string, took time.Duration),
) (ModuleScan, []Finding, error) {
	res := ModuleScan{Dir: m.Dir, Path: m.Path}
	start := time.Now()

	cmd := exec.CommandContext(ctx, goBin, "tool", "govulncheck", "-db", dbURL, "-format", "json", "./...")
	cmd.Dir, cmd.Env = m.Abs, environ
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return res, nil, err
	}
	if err := cmd.Start(); err != nil {
		return res, nil, err
	}
	findings, decodeErr := decode(stdout, m, workspace, rep, func(msg string) { progress(msg, time.Since(start)) })
	_, _ = io.Copy(io.Discard, stdout) // let govulncheck finish writing even if decoding failed
	waitErr := cmd.Wait()
	res.Seconds = time.Since(start).Seconds()
	switch {
	case waitErr != nil:
		return res, nil, fmt.Errorf("%w: %s", waitErr, tail(stderr.String(), 10))
	case decodeErr != nil:
		return res, nil, fmt.Errorf("read govulncheck's JSON: %w", decodeErr)
	}
	res.Findings = len(findings)
	for _, f := range findings {
		if f.reach == reachCalled {
			res.Called++
		}
	}
	return res, findings, nil
}

// decode reads a govulncheck JSON stream and merges its findings per
// advisory, keeping the deepest reach.
func decode(r io.Reader, m module, workspace []module, rep *Report, progress func(string)) ([]Finding, error) {
	byID := map[string]*Finding{}
	var order []string
	type advisory struct {
		summary, url string
		aliases      []string
	}
	advisories := map[string]advisory{}
	dec := json.NewDecoder(r)
	for {
		var msg message
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, err
		}
		switch {
		case msg.Config != nil:
			rep.Scanner = msg.Config.ScannerName + "@" + msg.Config.ScannerVersion
			rep.GoVersion = msg.Config.GoVersion
			rep.DBModified = msg.Config.DBLastModified
		case msg.Progress != nil:
			progress(msg.Progress.Message)
		case msg.OSV != nil:
			advisories[msg.OSV.ID] = advisory{msg.OSV.Summary, msg.OSV.DatabaseSpecific.URL, msg.OSV.Aliases}
		case msg.Finding != nil && len(msg.Finding.Trace) > 0:
			f, seen := byID[msg.Finding.OSV]
			if !seen {
				vuln := msg.Finding.Trace[0]
				f = &Finding{Module: m.Dir, ModulePath: m.Path, OSV: msg.Finding.OSV, Affected: vuln.Module, Version: vuln.Version}
				byID[f.OSV] = f
				order = append(order, f.OSV)
			}
			merge(f, msg.Finding.FixedVersion, msg.Finding.Trace, workspace)
		}
	}
	findings := make([]Finding, 0, len(order))
	for _, id := range order {
		f := byID[id]
		a := advisories[id]
		f.Summary, f.URL, f.Aliases = a.summary, a.url, a.aliases
		f.Reach = reachNames[f.reach]
		findings = append(findings, *f)
	}
	slices.SortStableFunc(findings, func(a, b Finding) int {
		if a.reach != b.reach {
			return b.reach - a.reach
		}
		return strings.Compare(a.OSV, b.OSV)
	})
	return findings, nil
}

// merge adds one govulncheck finding to f. The trace of a module-level
// finding has no package, of a package-level one no function.
func merge(f *Finding, fixed string, trace []frame, workspace []module) {
	vuln := trace[0]
	if fixed != "" {
		f.Fixed = fixed
	}
	reach := reachRequired
	switch {
	case vuln.Function != "":
		reach = reachCalled
		f.Symbols = appendNew(f.Symbols, symbol(vuln))
		if site := callSite(trace[1:], workspace); site != "" {
			f.CallSites = appendNew(f.CallSites, site)
		}
		if path := callPath(trace, workspace); len(f.CallPath) == 0 || len(path) < len(f.CallPath) {
			f.CallPath = path
		}
	case vuln.Package != "":
		reach = reachImported
	}
	if vuln.Package != "" {
		f.Packages = appendNew(f.Packages, vuln.Package)
	}
	f.reach = max(f.reach, reach)
}

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

var majorVersion = regexp.MustCompile(`^v[0-9]+$`)

// symbol names a vulnerable function as pkg.Func or pkg.Type.Method,
// with the package's last path element (not a /vN suffix).
func symbol(f frame) string {
	elems := strings.Split(f.Package, "/")
	pkg := elems[len(elems)-1]
	if len(elems) > 1 && majorVersion.MatchString(pkg) {
		pkg = elems[len(elems)-2]
	}
	name := f.Function
	if f.Receiver != "" {
		name = strings.TrimPrefix(f.Receiver, "*") + "." + name
	}
	return pkg + "." + name
}

// callSite is the first frame of the trace in workspace code, as
// file:line relative to the workspace root: where our code calls in.
func callSite(frames []frame, workspace []module) string {
	for _, fr := range frames {
		i := slices.IndexFunc(workspace, func(m module) bool { return m.Path == fr.Module })
		if i < 0 || fr.Position == nil || fr.Position.Filename == "" {
			continue
		}
		return fmt.Sprintf("%s:%d", filepath.ToSlash(filepath.Join(workspace[i].Dir, fr.Position.Filename)), fr.Position.Line)
	}
	return ""
}

// callPath is a symbol finding's trace as a call stack read top down: the
// workspace's entry function first, the vulnerable symbol last, each frame
// as package.Function and where the call is made.
func callPath(trace []frame, workspace []module) []string {
	path := make([]string, 0, len(trace))
	for i := len(trace) - 1; i >= 0; i-- {
		fr := trace[i]
		name := fr.Package + "." + fr.Function
		if fr.Receiver != "" {
			recv := fr.Receiver
			if strings.HasPrefix(recv, "*") {
				recv = "(" + recv + ")"
			}
			name = fr.Package + "." + recv + "." + fr.Function
		}
		if pos := framePosition(fr, workspace); pos != "" {
			name += " at " + pos
		}
		path = append(path, name)
	}
	return path
}

// framePosition is where a frame's code is: file:line relative to the
// workspace root for workspace code, module@version/file:line otherwise.
func framePosition(fr frame, workspace []module) string {
	if fr.Position == nil || fr.Position.Filename == "" {
		return ""
	}
	if i := slices.IndexFunc(workspace, func(m module) bool { return m.Path == fr.Module }); i >= 0 {
		return fmt.Sprintf("%s:%d", filepath.ToSlash(filepath.Join(workspace[i].Dir, fr.Position.Filename)), fr.Position.Line)
	}
	mod := fr.Module
	if fr.Version != "" {
		mod += "@" + fr.Version
	}
	return fmt.Sprintf("%s/%s:%d", mod, filepath.ToSlash(fr.Position.Filename), fr.Position.Line)
}

// fails reports whether any finding reaches failOn.
func fails(findings []Finding, failOn int) bool {
	return slices.ContainsFunc(findings, func(f Finding) bool { return f.reach >= failOn })
}

// failure names the advisories that fail the scan and, per reach, the
// modules they were found in.
func failure(findings []Finding, failOn int) string {
	var ids []string
	where := map[string]map[int][]string{}
	for _, f := range findings {
		if f.reach < failOn {
			continue
		}
		if where[f.OSV] == nil {
			ids = append(ids, f.OSV)
			where[f.OSV] = map[int][]string{}
		}
		where[f.OSV][f.reach] = append(where[f.OSV][f.reach], f.Module)
	}
	parts := make([]string, 0, len(ids))
	for _, id := range ids {
		var in []string
		for _, reach := range []int{reachCalled, reachImported, reachRequired} {
			if mods := where[id][reach]; len(mods) > 0 {
				in = append(in, reachNames[reach]+" in "+strings.Join(mods, ", "))
			}
		}
		parts = append(parts, id+" ("+strings.Join(in, "; ")+")")
	}
	what := map[int]string{
		reachCalled:   "vulnerable code is called",
		reachImported: "vulnerable packages are imported or called",
		reachRequired: "modules with known vulnerabilities are in the build",
	}[failOn]
	return fmt.Sprintf("%s: %s", what, strings.Join(parts, ", "))
}

// tail returns the last n non-empty lines of s, joined by " | ".
func tail(s string, n int) string {
	lines := strings.FieldsFunc(strings.TrimSpace(s), func(r rune) bool { return r == '\n' })
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	if len(lines) == 0 {
		return "no output"
	}
	return strings.Join(lines, " | ")
}
