package scadauiextension

import (
	"net/http"
	"path"
	"strings"

	"github.com/scadaotel/scadaotel/ui"
)

// assetHandler serves the built front-end (ui.Dist, embedded from ui/dist).
func assetHandler() http.Handler {
	files := http.FileServerFS(ui.Dist)
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
