package main

import (
	"reflect"
	"runtime/debug"
	"strings"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/otelcol"
)

// configPackageOverride names the component package of factories whose
// config type is an alias of a type in an internal package.
var configPackageOverride = map[string]string{
	"go.opentelemetry.io/collector/internal/memorylimiter":                           "go.opentelemetry.io/collector/processor/memorylimiterprocessor",
	"github.com/open-telemetry/opentelemetry-collector-contrib/internal/healthcheck": "github.com/open-telemetry/opentelemetry-collector-contrib/extension/healthcheckv2extension",
}

// setModules fills the factories' module maps, which `scadaotel components`
// prints: "<component package> <version of its Go module>", read from the
// binary's build information (the package is the one holding the
// component's config type).
func setModules(f *otelcol.Factories) {
	bi, _ := debug.ReadBuildInfo()
	f.ReceiverModules = modulesOf(bi, f.Receivers)
	f.ProcessorModules = modulesOf(bi, f.Processors)
	f.ExporterModules = modulesOf(bi, f.Exporters)
	f.ExtensionModules = modulesOf(bi, f.Extensions)
	f.ConnectorModules = modulesOf(bi, f.Connectors)
}

// providerModules and converterModules are what `scadaotel components`
// shows for the config providers (by scheme) and converters.
func providerModules() map[string]string {
	bi, _ := debug.ReadBuildInfo()
	return map[string]string{
		"env":          packageModule(bi, "go.opentelemetry.io/collector/confmap/provider/envprovider"),
		"file":         packageModule(bi, "go.opentelemetry.io/collector/confmap/provider/fileprovider"),
		"yaml":         packageModule(bi, "go.opentelemetry.io/collector/confmap/provider/yamlprovider"),
		embeddedScheme: packageModule(bi, "github.com/scadaotel/scadaotel/collector"),
	}
}

func converterModules() []string {
	bi, _ := debug.ReadBuildInfo()
	return []string{packageModule(bi, "github.com/scadaotel/scadaotel/collector")}
}

func modulesOf[F component.Factory](bi *debug.BuildInfo, factories map[component.Type]F) map[component.Type]string {
	out := make(map[component.Type]string, len(factories))
	for t, fac := range factories {
		out[t] = packageModule(bi, componentPackage(fac))
	}
	return out
}

func componentPackage(f component.Factory) string {
	typ := reflect.TypeOf(f.CreateDefaultConfig())
	for typ != nil && typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	if typ == nil {
		return ""
	}
	pkg := typ.PkgPath()
	if o, ok := configPackageOverride[pkg]; ok {
		pkg = o
	}
	return pkg
}

// packageModule returns "<pkg> <version>" with the version of the module
// that holds pkg (the longest module path that is a prefix of pkg).
func packageModule(bi *debug.BuildInfo, pkg string) string {
	if pkg == "" || bi == nil {
		return pkg
	}
	within := func(mod string) bool { return pkg == mod || strings.HasPrefix(pkg, mod+"/") }
	best, ver := "", ""
	if within(bi.Main.Path) {
		best, ver = bi.Main.Path, bi.Main.Version
		if ver == "" || ver == "(devel)" {
			ver = version
		}
	}
	for _, d := range bi.Deps {
		if len(d.Path) > len(best) && within(d.Path) {
			best, ver = d.Path, d.Version
			if d.Replace != nil && d.Replace.Version != "" {
				ver = d.Replace.Version
			}
		}
	}
	if best == "" {
		return pkg
	}
	return pkg + " " + ver
}
