package alarmconnector

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/component"

	"github.com/scadaotel/scadaotel/internal/alarm"
	"github.com/scadaotel/scadaotel/internal/readmeconfig"
)

// TestReadmeExamplesLoad: every alarm connector example of the README loads
// into the config and validates.
func TestReadmeExamplesLoad(t *testing.T) {
	if n := readmeconfig.Check(t, "README.md", "connectors", "alarm", func() component.Config { return createDefaultConfig() }); n == 0 {
		t.Fatal("no example found")
	}
}

// TestReadmeDefinitionsParse: the README's definitions file example is a
// valid definitions file.
func TestReadmeDefinitionsParse(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(b), -1) {
		if !strings.HasPrefix(m[1], "tenants:") {
			continue
		}
		n++
		defs, err := alarm.ParseDefinitions("README.md", []byte(m[1]))
		if err != nil {
			t.Fatal(err)
		}
		if len(defs.Tenants["west-pipeline-01"].Defs) != 6 {
			t.Fatalf("%d definitions", len(defs.Tenants["west-pipeline-01"].Defs))
		}
	}
	if n != 1 {
		t.Fatalf("%d definitions examples", n)
	}
}
