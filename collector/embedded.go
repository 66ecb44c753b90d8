package main

import (
	"context"
	_ "embed"
	"fmt"
	"strings"

	"go.opentelemetry.io/collector/confmap"
)

//go:embed config/default.yaml
var defaultConfig []byte

// embeddedScheme names the configs compiled into the binary, so that
// `scadaotel` with no flags runs the appliance: --config=embedded:default.
const embeddedScheme = "embedded"

var embeddedConfigs = map[string][]byte{"default": defaultConfig}

type embeddedProvider struct{}

func newEmbeddedProviderFactory() confmap.ProviderFactory {
	return confmap.NewProviderFactory(func(confmap.ProviderSettings) confmap.Provider { return embeddedProvider{} })
}

func (embeddedProvider) Retrieve(_ context.Context, uri string, _ confmap.WatcherFunc) (*confmap.Retrieved, error) {
	name, ok := strings.CutPrefix(uri, embeddedScheme+":")
	if !ok {
		return nil, fmt.Errorf("%q uri is not supported by %q provider", uri, embeddedScheme)
	}
	cfg, ok := embeddedConfigs[name]
	if !ok {
		return nil, fmt.Errorf("no embedded config named %q (have: default)", name)
	}
	return confmap.NewRetrievedFromYAML(cfg)
}

func (embeddedProvider) Scheme() string { return embeddedScheme }

func (embeddedProvider) Shutdown(context.Context) error { return nil }
