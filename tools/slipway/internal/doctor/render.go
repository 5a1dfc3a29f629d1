package doctor

import (
	"fmt"
	"io"
	"text/tabwriter"
	"unicode/utf8"
)

// cellMax bounds a table cell; --json and the details below the table
// carry the whole text.
const cellMax = 90

func render(w io.Writer, report Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tEXPECTED\tFOUND\tSTATUS\tFIX")
	var details []Row
	for _, r := range report.Checks {
		expected, found := cell(r.Expected), cell(r.Found)
		if (expected != r.Expected || found != r.Found) && r.Status != OK {
			details = append(details, r)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Check, expected, found, r.Status, r.Fix)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if report.CI {
		fmt.Fprintln(w, "\n--ci: differences from CI fail")
	}
	fmt.Fprintf(w, "\n%s\n", report.Summary)
	for _, r := range details {
		fmt.Fprintf(w, "\n%s (%s)\n  expected: %s\n  found:    %s\n", r.Check, r.Status, r.Expected, r.Found)
	}
	return nil
}

// cell cuts s to cellMax runes.
func cell(s string) string {
	if utf8.RuneCountInString(s) <= cellMax {
		return s
	}
	r := []rune(s)
	return string(r[:cellMax-1]) + "…"
}
