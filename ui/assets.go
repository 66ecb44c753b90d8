package ui

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

// dist is the built front-end (ui/web/build.sh writes it; it is committed
// so that `go build` works from a fresh clone without npm).
//
//go:embed dist
var dist embed.FS

func assetHandler() http.Handler {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		p := path.Clean("/" + r.URL.Path)
		// Single-page app: unknown paths without an extension get index.html.
		if p == "/" || !strings.Contains(path.Base(p), ".") {
			r = r.Clone(r.Context())
			r.URL.Path = "/"
		}
		// Assets hold no tenant data; revalidate so an upgrade shows at once.
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
