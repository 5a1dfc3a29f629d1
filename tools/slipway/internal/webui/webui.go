// Package webui holds the console's browser application: the files that the
// web/ project builds (Vite, outDir dist/), embedded in the slipway binary so
// `slipway dev` serves the console with nothing else installed.
package webui

import (
	"embed"
	"io/fs"
)

// dist is the built single-page application. "all:" keeps files whose names
// start with "." or "_", which bundlers emit for some chunks.
//
//go:embed all:dist
var dist embed.FS

// FS returns the built application, rooted at the directory that holds
// index.html.
func FS() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // "dist" is a fixed, embedded directory
	}
	return sub
}
