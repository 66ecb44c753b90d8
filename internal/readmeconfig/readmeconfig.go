// Package readmeconfig checks the YAML examples of a component's README, so
// that the documentation of every config key cannot drift from the code.
package readmeconfig

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"gopkg.in/yaml.v3"
)

var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// Example is one component entry found in a README's yaml blocks.
type Example struct {
	ID     string           // e.g. "tenantauth/file"
	Config component.Config // unmarshalled into a fresh default config
	Err    error            // what Validate (including nested Validate methods) said
}

// Examples returns every `<kind>: {<typ>[/name]: ...}` entry of the ```yaml
// blocks of readmePath (kind: "receivers", "processors", "exporters",
// "connectors" or "extensions"), and every top-level `<typ>[/name]:` entry
// of a block that shows one component alone, each unmarshalled into
// newConfig() and validated. A block that is not YAML, or an entry that does not
// unmarshal (an unknown or mistyped key), fails the test.
func Examples(t testing.TB, readmePath, kind, typ string, newConfig func() component.Config) []Example {
	t.Helper()
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	var out []Example
	for _, b := range yamlBlock.FindAllStringSubmatch(string(readme), -1) {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(b[1]), &m); err != nil {
			t.Fatalf("%s: a yaml block does not parse: %v\n%s", readmePath, err, b[1])
		}
		section, _ := m[kind].(map[string]any)
		if section == nil {
			section = m // a block of the component's own entries
		}
		for id, v := range section {
			if id != typ && !strings.HasPrefix(id, typ+"/") {
				continue
			}
			body, _ := v.(map[string]any)
			cfg := newConfig()
			if err := confmap.NewFromStringMap(body).Unmarshal(cfg); err != nil {
				t.Fatalf("%s: example %s: %v", readmePath, id, err)
			}
			out = append(out, Example{ID: id, Config: cfg, Err: confmap.Validate(cfg)})
		}
	}
	return out
}

// Check requires at least one example of typ in readmePath and every one of
// them to load and validate; it returns how many there are.
func Check(t testing.TB, readmePath, kind, typ string, newConfig func() component.Config) int {
	t.Helper()
	ex := Examples(t, readmePath, kind, typ, newConfig)
	if len(ex) == 0 {
		t.Fatalf("%s has no %s example of %s", readmePath, kind, typ)
	}
	for _, e := range ex {
		if e.Err != nil {
			t.Errorf("%s: example %s does not validate: %v", readmePath, e.ID, e.Err)
		}
	}
	return len(ex)
}
