package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Appliance is bin/scadaotel running its embedded default config (no
// --config): the full trace and metrics pipelines, every address moved to a
// free loopback port by the variables the default config reads.
type Appliance struct {
	*Proc
	OTLPGRPC, OTLPHTTP, Query, Health string
	Token                             string
	DataDir                           string
}

// BenchTenant is the tenant the bench writes as.
const BenchTenant = "west-pipeline-01"

// benchLimits lift the per-tenant default limits: the bench measures the
// most the appliance can take, not what a tenant is allowed by default.
const benchLimits = "    limits: {samples_per_second: 1e9, spans_per_second: 1e9, bytes_per_second: 1e12, active_series: 100000000}\n"

// StartAppliance starts the appliance with data in dir; traces go to
// jaegerOTLP (the bench's sink) and alerts to the Kafka broker at kafka.
func StartAppliance(ctx context.Context, bin, dir, jaegerOTLP, kafka string) (*Appliance, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	token := "bench-token-" + filepath.Base(dir)
	sum := sha256.Sum256([]byte(token))
	tenantsFile := filepath.Join(dir, "tenants.yaml")
	if err := os.WriteFile(tenantsFile, fmt.Appendf(nil, "tenants:\n  - id: %s\n    token_sha256: [%s]\n%s", BenchTenant, hex.EncodeToString(sum[:]), benchLimits), 0o600); err != nil {
		return nil, err
	}
	a := &Appliance{Token: token, DataDir: dir}
	names := []string{"SCADAOTEL_OTLP_GRPC_ENDPOINT", "SCADAOTEL_OTLP_HTTP_ENDPOINT", "SCADAOTEL_QUERY_ENDPOINT", "SCADAOTEL_HEALTH_ENDPOINT",
		"SCADAOTEL_REMOTE_WRITE_ENDPOINT", "SCADAOTEL_TRACE_QUERY_ENDPOINT", "SCADAOTEL_ALERTS_ENDPOINT", "SCADAOTEL_UI_ENDPOINT", "SCADAOTEL_ALARMS_ENDPOINT", "metrics", "jaegerquery"}
	addrs := map[string]string{}
	for _, n := range names {
		ad, err := FreeAddr()
		if err != nil {
			return nil, err
		}
		addrs[n] = ad
	}
	a.OTLPGRPC, a.OTLPHTTP, a.Query, a.Health = addrs[names[0]], addrs[names[1]], addrs[names[2]], addrs[names[3]]
	env := []string{
		"SCADAOTEL_TENANTS_FILE=" + tenantsFile,
		"SCADAOTEL_JAEGER_OTLP_ENDPOINT=" + jaegerOTLP,
		"SCADAOTEL_JAEGER_QUERY_URL=http://" + addrs["jaegerquery"],
		"SCADAOTEL_KAFKA_BROKERS=" + kafka,
		"SCADAOTEL_METRICS_PORT=" + portOf(addrs["metrics"]),
	}
	for _, n := range names[:9] {
		env = append(env, n+"="+addrs[n])
	}
	args := []string{"--data-dir", dir}
	if addr := os.Getenv(PprofEnv); addr != "" {
		args = append(args, pprofArgs(addr)...)
	}
	p, err := StartProc("appliance", bin, args, env, filepath.Join(dir, "appliance.log"))
	if err != nil {
		return nil, err
	}
	a.Proc = p
	if err := p.WaitHTTP(ctx, "http://"+a.Health+"/status", 60*time.Second); err != nil {
		p.Stop(5 * time.Second)
		return nil, err
	}
	return a, nil
}

// PprofEnv names an address on which the appliance under test serves Go
// profiles (the pprof extension), for profiling it under the bench's load:
// development runs only, the extension costs nothing until asked.
const PprofEnv = "SCADAOTEL_BENCH_PPROF"

// pprofArgs are the config layers that add the pprof extension on addr to
// the embedded default config (its extension list, plus pprof).
func pprofArgs(addr string) []string {
	return []string{
		"--config", "embedded:default",
		"--config", "yaml:extensions::pprof::endpoint: " + addr,
		"--config", "yaml:service::extensions: [healthcheckv2, log_storage, tenantauth, prometheus_query, tenant_trace_query, scada_ui, pprof]",
	}
}

func portOf(addr string) string {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			return addr[i+1:]
		}
	}
	return addr
}

// telemetryYAML is the self-metrics block every collector config of the
// bench uses (the same as the default config's, on a free port).
func telemetryYAML(port string) string {
	return fmt.Sprintf(`  telemetry:
    logs:
      level: info
    metrics:
      level: normal
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: %s
`, port)
}

// StartCollectorConfig runs bin with a config file (written to dir) and waits
// for its healthcheckv2 endpoint health.
func StartCollectorConfig(ctx context.Context, name, bin, dir, config, health string) (*Proc, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		return nil, err
	}
	args := []string{"--config", cfg}
	// The polling and alarm pairs' appliances (their configs have healthcheckv2 only)
	// serve profiles too under PprofEnv.
	if addr := os.Getenv(PprofEnv); addr != "" && (name == "appliance-scada" || name == "appliance-alarms") {
		args = append(args, "--config", "yaml:extensions::pprof::endpoint: "+addr, "--config", "yaml:service::extensions: [healthcheckv2, pprof]")
	}
	p, err := StartProc(name, bin, args, []string{"SCADAOTEL_DATA_DIR=" + dir}, filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	if err := p.WaitHTTP(ctx, "http://"+health+"/status", 60*time.Second); err != nil {
		p.Stop(5 * time.Second)
		return nil, err
	}
	return p, nil
}
