// Package ui holds the operator web UI's front-end: its sources (web/) and
// the committed build (dist/, written by web/build.sh). Go's embed cannot
// reach a parent directory, so this package embeds dist and exports it; the
// scada_ui extension (extensions/scadauiextension) serves it.
package ui

import (
	"embed"
	"io/fs"
)

//go:embed dist
var dist embed.FS

// Dist is the built front-end, rooted at ui/dist (index.html, app.js, ...).
var Dist fs.FS = mustSub(dist, "dist")

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	return sub
}
