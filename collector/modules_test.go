package main

import (
	"strings"
	"testing"

	"go.opentelemetry.io/collector/component"
)

// Every component names its package and a module version: never an empty
// module, never an internal package (an aliased config type).
func TestComponentModules(t *testing.T) {
	f, err := components()
	if err != nil {
		t.Fatal(err)
	}
	check := func(kind string, factories int, mods map[component.Type]string) {
		if len(mods) != factories {
			t.Errorf("%s: %d modules for %d factories", kind, len(mods), factories)
		}
		for typ, m := range mods {
			fields := strings.Fields(m)
			if len(fields) != 2 || strings.Contains(fields[0], "/internal/") || fields[1] == "" {
				t.Errorf("%s %s: module %q, want \"<component package> <version>\"", kind, typ, m)
			}
		}
	}
	check("receiver", len(f.Receivers), f.ReceiverModules)
	check("processor", len(f.Processors), f.ProcessorModules)
	check("exporter", len(f.Exporters), f.ExporterModules)
	check("extension", len(f.Extensions), f.ExtensionModules)
	check("connector", len(f.Connectors), f.ConnectorModules)
	for typ, want := range map[string]string{
		"memory_limiter": "go.opentelemetry.io/collector/processor/memorylimiterprocessor ",
		"tenantstamp":    "github.com/scadaotel/scadaotel/processors/tenantstampprocessor ",
	} {
		if got := f.ProcessorModules[component.MustNewType(typ)]; !strings.HasPrefix(got, want) {
			t.Errorf("processor %s: module %q, want it to start with %q", typ, got, want)
		}
	}
	for scheme, m := range providerModules() {
		if len(strings.Fields(m)) != 2 {
			t.Errorf("provider %s: module %q", scheme, m)
		}
	}
	if got := f.ExtensionModules[component.MustNewType("healthcheckv2")]; !strings.Contains(got, "/extension/healthcheckv2extension ") {
		t.Errorf("healthcheckv2: module %q", got)
	}
}
