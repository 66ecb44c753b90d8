package repolayout

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestComponentReadmesShareOneStatusTable: every component README opens
// with the same status table (Stability, Type, Code), its Code is the
// component's own folder, and its Type is a type string of that package.
func TestComponentReadmesShareOneStatusTable(t *testing.T) {
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	var readmes []string
	for _, kind := range []string{"receivers", "processors", "connectors", "exporters", "extensions"} {
		m, _ := filepath.Glob(filepath.Join(root, kind, "*", "README.md"))
		readmes = append(readmes, m...)
	}
	if len(readmes) < 10 {
		t.Fatalf("only %d component READMEs found", len(readmes))
	}
	row := regexp.MustCompile(`^\|\s*([^|]+?)\s*\|\s*(.*?)\s*\|$`)
	for _, f := range readmes {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dir, _ := filepath.Rel(root, filepath.Dir(f))
		var rows [][2]string
		in := false
		for _, l := range strings.Split(string(b), "\n") {
			if !in && strings.HasPrefix(l, "| Status") {
				in = true
				continue
			}
			if in {
				if !strings.HasPrefix(l, "|") {
					break
				}
				if m := row.FindStringSubmatch(l); m != nil && !strings.HasPrefix(m[1], "---") {
					rows = append(rows, [2]string{m[1], m[2]})
				}
			}
		}
		if len(rows) != 3 || rows[0][0] != "Stability" || rows[1][0] != "Type" || rows[2][0] != "Code" {
			t.Errorf("%s: status table rows %v, want Stability, Type, Code", f, rows)
			continue
		}
		if rows[2][1] != "`"+dir+"`" {
			t.Errorf("%s: Code %s, want `%s`", f, rows[2][1], dir)
		}
		typ := strings.Trim(rows[1][1], "`")
		found := false
		srcs, _ := filepath.Glob(filepath.Join(filepath.Dir(f), "*.go"))
		for _, s := range srcs {
			if strings.HasSuffix(s, "_test.go") {
				continue
			}
			src, _ := os.ReadFile(s)
			if strings.Contains(string(src), `"`+typ+`"`) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("%s: Type %s is not a type string of %s", f, typ, dir)
		}
	}
}
