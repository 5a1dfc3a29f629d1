package devconsole

import (
	"bytes"
	"errors"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

// Cache policies: index.html must be revalidated so a rebuilt console is
// picked up at once; Vite names the files under assets/ by content hash,
// so they never change under one name.
const (
	cacheRevalidate = "no-cache"
	cacheImmutable  = "public, max-age=31536000, immutable"
)

// hashedAssetsDir is Vite's build.assetsDir.
const hashedAssetsDir = "assets/"

// Types the mime package may not know on a minimal system.
var extraTypes = map[string]string{
	".js":    "text/javascript; charset=utf-8",
	".mjs":   "text/javascript; charset=utf-8",
	".css":   "text/css; charset=utf-8",
	".html":  "text/html; charset=utf-8",
	".json":  "application/json",
	".map":   "application/json",
	".svg":   "image/svg+xml",
	".png":   "image/png",
	".ico":   "image/x-icon",
	".woff":  "font/woff",
	".woff2": "font/woff2",
	".ttf":   "font/ttf",
	".wasm":  "application/wasm",
	".txt":   "text/plain; charset=utf-8",
	".webp":  "image/webp",
}

// spaHandler serves the built single-page application: a file that exists
// is served as itself; any other path without a file extension is a client
// route and gets index.html; a missing file with an extension is a 404, so
// a stale script URL never receives HTML.
type spaHandler struct {
	files   fs.FS
	modTime time.Time // embedded files carry none; the binary's start stands in
}

func (h spaHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	if name == "" {
		name = "index.html"
	}
	data, err := fs.ReadFile(h.files, name)
	switch {
	case err == nil:
	case (errors.Is(err, fs.ErrNotExist) && path.Ext(name) == "") || isDir(h.files, name):
		name = "index.html"
		data, err = fs.ReadFile(h.files, name)
		if err != nil {
			writeProblem(w, http.StatusNotFound, "the console's web application is not built into this binary")
			return
		}
	default:
		writeProblem(w, http.StatusNotFound, "no such file: /"+name)
		return
	}
	ctype := extraTypes[path.Ext(name)]
	if ctype == "" {
		ctype = mime.TypeByExtension(path.Ext(name))
	}
	if ctype == "" {
		ctype = http.DetectContentType(data)
	}
	w.Header().Set("Content-Type", ctype)
	if strings.HasPrefix(name, hashedAssetsDir) {
		w.Header().Set("Cache-Control", cacheImmutable)
	} else {
		w.Header().Set("Cache-Control", cacheRevalidate)
	}
	http.ServeContent(w, r, name, h.modTime, bytes.NewReader(data))
}

func isDir(files fs.FS, name string) bool {
	st, err := fs.Stat(files, name)
	return err == nil && st.IsDir()
}
