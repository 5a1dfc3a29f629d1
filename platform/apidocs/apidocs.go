// Package apidocs serves a service's OpenAPI document and a docs page that
// renders it with swagger-ui (swagger-ui-dist 5.35.0, Apache-2.0, see
// assets/LICENSE), from assets embedded in the binary: the page works offline.
package apidocs

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed assets
var assets embed.FS

// Register serves doc at /openapi.yaml and the docs page under /docs/.
//
// The document sets no CORS header of its own: the server's CORS middleware
// answers the configured origins like on every other path, and tools that
// are not browsers need none (the dev console fetches it server-side).
func Register(mux *http.ServeMux, doc []byte) {
	mux.HandleFunc("GET /openapi.yaml", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(doc)
	})
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	mux.Handle("GET /docs/", http.StripPrefix("/docs/", http.FileServerFS(sub)))
	mux.Handle("GET /docs", http.RedirectHandler("/docs/", http.StatusMovedPermanently))
}
