// Command scadaotel is the scadaotel appliance: an OpenTelemetry Collector
// distribution for SCADA pipelines. With no flags it runs the embedded
// default appliance config; --config FILE runs a user's config.
package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/confmap/provider/yamlprovider"
	"go.opentelemetry.io/collector/otelcol"
	"go.uber.org/zap"

	"github.com/scadaotel/scadaotel/exporters/durableotlpexporter"
	"github.com/scadaotel/scadaotel/internal/audit"
	"github.com/scadaotel/scadaotel/internal/certs"
	"github.com/scadaotel/scadaotel/internal/connguard"
	"github.com/scadaotel/scadaotel/tenants"
)

// Stamped by -ldflags "-X main.version=... -X main.commit=..." from git.
var (
	version = "dev"
	commit  = "unknown"
)

// dataDirEnv names the directory that holds all appliance state. Configs
// refer to it as ${env:SCADAOTEL_DATA_DIR}; --data-dir sets it.
const dataDirEnv = "SCADAOTEL_DATA_DIR"

// tenantsFileEnv names the tenants file of the default config; it defaults
// to <data dir>/tenants.yaml, created empty (no tenants) when missing.
const tenantsFileEnv = "SCADAOTEL_TENANTS_FILE"

// alarmsFileEnv names the alarm definitions file (default <data dir>/alarms.yaml).
const alarmsFileEnv = "SCADAOTEL_ALARMS_FILE"

const emptyTenantsFile = `# scadaotel tenants, re-read while the appliance runs.
# Add a tenant (one pipeline); its new bearer token is printed once and only
# its SHA-256 is stored here:
#   scadaotel tenants add west-pipeline-01
# (also: tenants list, rotate-token <id>, remove <id>). By hand, with the
# SHA-256 of a token of your own: echo -n "$TOKEN" | scadaotel tenants hash-token
# Named tokens with roles (ingest, viewer, operator, tenant-admin):
#   scadaotel tokens add --tenant west-pipeline-01 --name zhang.wei --roles operator
# tenants:
#   - id: west-pipeline-01
#     token_sha256: [<hash>]
#     limits: {samples_per_second: 50000, spans_per_second: 5000}
tenants: []
`

func newCommand() *cobra.Command {
	set := otelcol.CollectorSettings{
		BuildInfo: component.BuildInfo{
			Command:     "scadaotel",
			Description: "scadaotel: observability appliance for SCADA pipelines",
			Version:     version + " (" + commit + ")",
		},
		Factories:        components,
		ProviderModules:  providerModules(),
		ConverterModules: converterModules(),
		// A new queue's "legacy format" lookup is not a migration.
		LoggingOptions: []zap.Option{queueLogFilterOption()},
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				// Defaults; any --config flag replaces them.
				URIs: []string{embeddedScheme + ":default"},
				ProviderFactories: []confmap.ProviderFactory{
					envprovider.NewFactory(), fileprovider.NewFactory(), yamlprovider.NewFactory(),
					newEmbeddedProviderFactory(),
				},
				ConverterFactories: []confmap.ConverterFactory{newEndpointCheckFactory()},
				DefaultScheme:      "env",
			},
		},
	}
	cmd := otelcol.NewCommand(set)
	cmd.AddCommand(tenants.NewCommand(), tenants.NewTokensCommand(), durableotlpexporter.NewCommand(), newVersionCommand(), audit.NewCommand(), certs.NewCommand())
	var dataDir string
	cmd.PersistentFlags().StringVar(&dataDir, "data-dir", "",
		"directory for all appliance state (default $"+dataDirEnv+", else ./data)")
	var allowRoot bool
	cmd.Flags().BoolVar(&allowRoot, "allow-root", false, "run even as root (also "+allowRootEnv+"=1)")
	cmd.PersistentPreRunE = func(c *cobra.Command, _ []string) error {
		switch c.Name() {
		case "scadaotel", "validate", "print-config":
			if c.Name() == "scadaotel" {
				if err := checkNotRoot(allowRoot); err != nil {
					return err
				}
				guardDescriptors()
			}
			if err := applyMemoryPlan(); err != nil {
				return err
			}
			if err := defaultTraceURL(); err != nil {
				return err
			}
			return prepareDataDir(dataDir)
		}
		return nil // components, tenants, ...: no state touched
	}
	return cmd
}

// prepareDataDir resolves the data directory (flag, then env, then ./data),
// makes it absolute and creates it, and exports it for config expansion.
func prepareDataDir(flagValue string) error {
	dir := flagValue
	if dir == "" {
		dir = os.Getenv(dataDirEnv)
	}
	if dir == "" {
		dir = "data"
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("cannot resolve data directory %q: %w", dir, err)
	}
	if err := os.MkdirAll(filepath.Join(abs, "queue"), 0o750); err != nil {
		return fmt.Errorf("cannot create data directory %q: %w", abs, err)
	}
	if err := os.Setenv(dataDirEnv, abs); err != nil {
		return err
	}
	// Per-tenant self-metrics carry keyed pseudonyms, never tenant ids
	// (docs/tenancy.md): the key is the appliance's, kept with its state.
	key, err := tenants.LoadOrCreateSelfMetricKey(filepath.Join(abs, tenants.SelfMetricKeyFile))
	if err != nil {
		return err
	}
	tenants.SetSelfMetricKey(key)
	// The alarm definitions (connectors/alarmconnector): a file that does
	// not exist yet means no alarms until it is written.
	if os.Getenv(alarmsFileEnv) == "" {
		if err := os.Setenv(alarmsFileEnv, filepath.Join(abs, "alarms.yaml")); err != nil {
			return err
		}
	}
	if os.Getenv(tenantsFileEnv) != "" {
		return nil
	}
	tf := filepath.Join(abs, "tenants.yaml")
	if _, err := os.Stat(tf); errors.Is(err, fs.ErrNotExist) {
		if err := os.WriteFile(tf, []byte(emptyTenantsFile), 0o600); err != nil {
			return fmt.Errorf("cannot create tenants file %q: %w", tf, err)
		}
	}
	return os.Setenv(tenantsFileEnv, tf)
}

// traceURLEnv is the link template of alert records (kafka_alerts
// trace_url). Unset, it points at the UI's trace view on
// SCADAOTEL_UI_ENDPOINT (https when SCADAOTEL_TLS_CERT_FILE gives the
// listeners TLS), so that moving the UI moves the links too. It is
// set here rather than as a config default because "{trace_id}" inside a
// ${env:...:-default} ends the reference at its first "}".
const traceURLEnv = "SCADAOTEL_TRACE_URL"

func defaultTraceURL() error {
	if os.Getenv(traceURLEnv) != "" {
		return nil
	}
	ui := os.Getenv("SCADAOTEL_UI_ENDPOINT")
	if ui == "" {
		ui = "127.0.0.1:8080"
	}
	host, port, err := net.SplitHostPort(ui)
	if err != nil {
		return nil // the endpoint check names the bad SCADAOTEL_UI_ENDPOINT
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	scheme := "http"
	if os.Getenv("SCADAOTEL_TLS_CERT_FILE") != "" {
		scheme = "https" // the default config's listener_tls gives the UI TLS
	}
	return os.Setenv(traceURLEnv, scheme+"://"+net.JoinHostPort(host, port)+"/#/trace/{trace_id}")
}

// guardDescriptors raises the descriptor limit to its hard maximum and
// starts the watchdog that sheds connections of the collector's own
// listeners before the embedded storage could run out of descriptors
// (internal/connguard, docs/decisions.md).
func guardDescriptors() {
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "%s\twarn\tconnguard\t%s\n", time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), fmt.Sprintf(format, args...))
	}
	if _, _, err := connguard.RaiseNoFileLimit(); err != nil {
		logf("cannot read the file descriptor limit: %v", err)
	}
	w, err := connguard.NewWatchdog(logf)
	if err != nil {
		logf("no descriptor watchdog: %v", err)
		return
	}
	w.Start() // runs for the life of the process
}

func main() {
	if err := newCommand().Execute(); err != nil {
		// cobra already printed the one-line error.
		os.Exit(1)
	}
}
