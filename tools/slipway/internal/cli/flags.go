package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// ErrFlagParse wraps errors the flag package already printed.
var ErrFlagParse = errors.New("invalid flags")

// NewFlagSet returns a flag set that reports to w and prints a usage text
// made of the synopsis, the description and the flag defaults. When w is a
// *FlagCollector (completion), the flag set is also handed to it.
func NewFlagSet(w io.Writer, name, synopsis, description string) *flag.FlagSet {
	fs := flag.NewFlagSet("slipway "+name, flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {
		fmt.Fprintf(w, "usage: slipway %s %s\n\n%s\n\nflags:\n", name, synopsis, description)
		PrintDefaults(w, fs)
	}
	if c, ok := w.(*FlagCollector); ok {
		c.Sets = append(c.Sets, fs)
	}
	return fs
}

// PrintDefaults is fs.PrintDefaults with every flag spelt --name, as the
// README and the descriptions spell them (the flag package accepts both).
func PrintDefaults(w io.Writer, fs *flag.FlagSet) {
	var b strings.Builder
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(w)
	for line := range strings.Lines(b.String()) {
		if rest, ok := strings.CutPrefix(line, "  -"); ok && !strings.HasPrefix(rest, "-") {
			line = "  --" + rest
		}
		_, _ = io.WriteString(w, line)
	}
}

// ParseFlags parses args into fs and turns failures into usage errors.
func ParseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return UsageError{fmt.Errorf("%w: %w", ErrFlagParse, err)}
	}
	if fs.NArg() > 0 {
		return UsageErrorf("unexpected arguments: %q", fs.Args())
	}
	return nil
}

// ParseInterspersed parses args like ParseFlags but allows positional words
// before, between and after the flags (slipway new service NAME --dry-run),
// and returns those words in order. A lone "--" ends the flags.
func ParseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var words []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, UsageError{fmt.Errorf("%w: %w", ErrFlagParse, err)}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return words, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(words, rest...), nil
		}
		words, args = append(words, rest[0]), rest[1:]
	}
}

// FlagCollector is the output NewFlagSet recognises: it keeps every flag set
// a verb makes, and discards the usage text.
type FlagCollector struct{ Sets []*flag.FlagSet }

func (*FlagCollector) Write(p []byte) (int, error) { return len(p), nil }

// List splits a comma-separated flag value (--services user, order) into
// its entries, trimmed, without empty ones.
func List(value string) []string {
	var out []string
	for s := range strings.SplitSeq(value, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
