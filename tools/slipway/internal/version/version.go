// Package version is the version verb (also slipway --version): the version,
// commit and Go version the running slipway was built with.
package version

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"text/tabwriter"

	"github.com/slipway-dev/slipway/platform/buildinfo"
	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
)

// Options are the inputs of Run.
type Options struct {
	JSON   bool
	Stdout io.Writer
	build  *debug.BuildInfo // nil reads the running binary's
}

// Info is what a slipway binary knows about its own build.
type Info struct {
	Version  string `json:"version"`          // buildinfo.Version: git describe under make, else the module version or "dev"
	Module   string `json:"module"`           // module path and version
	Commit   string `json:"commit,omitempty"` // vcs.revision, when built in a git checkout
	Time     string `json:"commit_time,omitempty"`
	Modified bool   `json:"modified,omitempty"` // the checkout had uncommitted changes
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

// Main parses the version verb's flags and prints the build.
func Main(_ context.Context, args []string, env *cli.Env) error {
	fs := cli.NewFlagSet(env.Stderr, "version", "[--json]",
		"Prints the version slipway was built as (make stamps git describe into it), its module,\n"+
			"the commit it was built from (when built in a git checkout) and the Go version.\n"+
			"slipway --version prints the same.")
	opts := Options{Stdout: env.Stdout}
	fs.BoolVar(&opts.JSON, "json", false, "print JSON")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	return Run(opts)
}

// Run prints the build of the running binary.
func Run(opts Options) error {
	bi := opts.build
	if bi == nil {
		bi, _ = debug.ReadBuildInfo()
	}
	info := read(buildinfo.Version, bi)
	if opts.JSON {
		enc := json.NewEncoder(opts.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	}
	tw := tabwriter.NewWriter(opts.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "slipway\t%s\n", info.Version)
	fmt.Fprintf(tw, "module\t%s\n", info.Module)
	if info.Commit != "" {
		commit := info.Commit
		if info.Time != "" {
			commit += " (" + info.Time + ")"
		}
		if info.Modified {
			commit += ", with uncommitted changes"
		}
		fmt.Fprintf(tw, "commit\t%s\n", commit)
	}
	fmt.Fprintf(tw, "go\t%s %s\n", info.Go, info.Platform)
	return tw.Flush()
}

// read combines the linker-stamped version with what the Go
// toolchain records in the binary (bi may be nil, as in a binary built
// without module support).
func read(stamped string, bi *debug.BuildInfo) Info {
	info := Info{Version: stamped, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi == nil {
		return info
	}
	if bi.GoVersion != "" {
		info.Go = bi.GoVersion
	}
	info.Module = bi.Main.Path
	if v := bi.Main.Version; v != "" {
		info.Module += " " + v
		// go install module@v1.2.3 records the version; make stamps its own.
		if info.Version == "dev" && v != "(devel)" {
			info.Version = v
		}
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Commit = s.Value
		case "vcs.time":
			info.Time = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}
