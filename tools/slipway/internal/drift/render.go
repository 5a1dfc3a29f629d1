package drift

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

// sortRows orders rows by service (start order), source, object, then drift
// first and key.
func sortRows(rows []Row) {
	svcRank := func(name string) int {
		return slices.IndexFunc(workspace.Known, func(d workspace.Service) bool { return d.Name == name })
	}
	srcRank := map[string]int{sourceRunning: 0, sourceConfigMap: 1, sourceSecret: 2}
	slices.SortStableFunc(rows, func(a, b Row) int {
		switch {
		case svcRank(a.Service) != svcRank(b.Service):
			return svcRank(a.Service) - svcRank(b.Service)
		case srcRank[a.Source] != srcRank[b.Source]:
			return srcRank[a.Source] - srcRank[b.Source]
		case a.Object != b.Object:
			return strings.Compare(a.Object, b.Object)
		case a.Status == statusUndeclared && b.Status != statusUndeclared:
			return 1
		case b.Status == statusUndeclared && a.Status != statusUndeclared:
			return -1
		}
		return strings.Compare(a.Key+a.Env, b.Key+b.Env)
	})
}

// render prints the services, the table of declared keys, the keys that
// run undeclared, and the notes.
func render(w io.Writer, rep Report) {
	for _, s := range rep.Services {
		fmt.Fprintf(w, "%s: declared %s (%s)", s.Service, s.Declared, s.Origin)
		switch {
		case s.Error != "":
			fmt.Fprintf(w, "; running at %s: %s", s.Target, s.Error)
		case s.Target != "":
			fmt.Fprintf(w, "; running at %s, version %s, config hash %s", s.Target, s.Version, s.Hash)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	c := renderTable(w, rep.Rows)
	for _, s := range rep.Services {
		if keys := c.undeclared[s.Service]; len(keys) > 0 {
			fmt.Fprintf(w, "info: %s runs %d key(s) not declared (defaults or environment): %s\n",
				s.Service, len(keys), strings.Join(keys, ", "))
		}
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	switch {
	case c.drifted > 0:
		fmt.Fprintf(w, "drift: %d key(s) differ from the declaration, %d as declared\n", c.drifted, c.same)
	case c.unread == 0:
		fmt.Fprintf(w, "no drift: %d key(s) as declared\n", c.same)
	}
	if c.unread > 0 {
		fmt.Fprintf(w, "%d source(s) could not be read\n", c.unread)
	}
}

// counts are what the table showed, for the lines below it.
type counts struct {
	drifted, unread, same int
	undeclared            map[string][]string // service -> keys it runs undeclared, left out of the table
}

// renderTable prints every row but the undeclared ones, problems in capitals.
func renderTable(w io.Writer, rows []Row) counts {
	c := counts{undeclared: map[string][]string{}}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tSOURCE\tKEY\tDECLARED\tFOUND\tSTATUS")
	for _, r := range rows {
		if r.Status == statusUndeclared {
			c.undeclared[r.Service] = append(c.undeclared[r.Service], r.Key)
			continue
		}
		status := r.Status
		switch {
		case r.Status == statusFailed:
			status = strings.ToUpper(status)
			c.unread++
		case r.Drift:
			status = strings.ToUpper(status)
			c.drifted++
		case r.Status == statusSame:
			c.same++
		}
		if r.Note != "" {
			status += ": " + r.Note
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Service, r.sourceCell(), r.keyCell(), display(r.Declared), display(r.Found), status)
	}
	_ = tw.Flush()
	return c
}

// sourceCell is the row's source and the object it read, if any.
func (r Row) sourceCell() string {
	if r.Object != "" {
		return r.Source + " " + r.Object
	}
	return r.Source
}

// keyCell is the row's config key, with the Secret's variable when there is one.
func (r Row) keyCell() string {
	switch {
	case r.Env == "":
		return r.Key
	case r.Key == "-":
		return r.Env
	}
	return r.Key + " (" + r.Env + ")"
}

// display is a value as the table shows it.
func display(v any) string {
	switch v := v.(type) {
	case nil:
		return "-"
	case string:
		if v == "" {
			return `""`
		}
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
