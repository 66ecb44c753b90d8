package repolayout

import (
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// TestArchitectureMatchesDefaultConfig: docs/architecture.md's pipeline
// table lists exactly the pipelines of collector/config/default.yaml, with
// the same components in the same order, and its diagram names every
// component and service extension of that config.
func TestArchitectureMatchesDefaultConfig(t *testing.T) {
	root := filepath.Join("..", "..")
	config, err := os.ReadFile(filepath.Join(root, "collector", "config", "default.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want, extensions, err := ConfigPipelines(config)
	if err != nil {
		t.Fatal(err)
	}
	docPath := filepath.Join(root, "docs", "architecture.md")
	doc, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DocPipelines(strings.NewReader(string(doc)))
	if err != nil {
		t.Fatalf("docs/architecture.md: %v", err)
	}
	for name, p := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("docs/architecture.md: pipeline %s of default.yaml is missing from the table", name)
			continue
		}
		if !reflect.DeepEqual(norm(g), norm(p)) {
			t.Errorf("docs/architecture.md: pipeline %s is %+v in the table, %+v in default.yaml", name, g, p)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("docs/architecture.md: the table lists pipeline %s, which default.yaml does not have", name)
		}
	}

	diagram, err := Mermaid(doc)
	if err != nil {
		t.Fatalf("docs/architecture.md: %v", err)
	}
	ids := map[string]bool{}
	for _, id := range extensions {
		ids[id] = true
	}
	for _, p := range want {
		for _, l := range [][]string{p.Receivers, p.Processors, p.Exporters} {
			for _, id := range l {
				ids[id] = true
			}
		}
	}
	var missing []string
	for id := range ids {
		if !strings.Contains(diagram, id) {
			missing = append(missing, id)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("docs/architecture.md: the diagram does not name %v of default.yaml", missing)
	}
}

func norm(p Pipeline) Pipeline {
	for _, l := range []*[]string{&p.Receivers, &p.Processors, &p.Exporters} {
		if len(*l) == 0 {
			*l = nil
		}
	}
	return p
}

func TestDocPipelines(t *testing.T) {
	doc := "x\n\n" + PipelinesHeader + "\n|---|---|---|---|\n" +
		"| `traces` | `otlp` | `a`, `b` | `c` |\n| `logs` | `r` | | `e` |\n\nafter\n"
	got, err := DocPipelines(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Pipeline{
		"traces": {Receivers: []string{"otlp"}, Processors: []string{"a", "b"}, Exporters: []string{"c"}},
		"logs":   {Receivers: []string{"r"}, Exporters: []string{"e"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v", got)
	}
}
