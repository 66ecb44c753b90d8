package tenantstampprocessor

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/scadaotel/scadaotel/extensions/tenantauthextension"
	"github.com/scadaotel/scadaotel/internal/readmeconfig"
	"github.com/scadaotel/scadaotel/tenants"
)

func TestConfigExamples(t *testing.T) {
	cm, err := confmaptest.LoadConf("testdata/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]*Config{
		"tenantstamp":          {Authenticator: component.MustNewID("tenantauth"), EnforceLimits: true},
		"tenantstamp/nolimits": {Authenticator: component.MustNewIDWithName("tenantauth", "file"), EnforceLimits: false},
	} {
		sub, err := cm.Sub(id)
		if err != nil {
			t.Fatal(err)
		}
		cfg := createDefaultConfig().(*Config)
		if err := sub.Unmarshal(cfg); err != nil {
			t.Fatal(err)
		}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		if cfg.Authenticator != want.Authenticator || cfg.EnforceLimits != want.EnforceLimits {
			t.Errorf("%s: %+v, want %+v", id, cfg, want)
		}
	}
	readmeconfig.Check(t, "README.md", "processors", "tenantstamp", createDefaultConfig)
}

func TestStartNeedsTheAuthenticator(t *testing.T) {
	f := NewFactory()
	p, err := f.CreateTraces(context.Background(), processortest.NewNopSettings(f.Type()), f.CreateDefaultConfig(), consumertest.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	err = p.Start(context.Background(), componenttest.NewNopHost())
	if err == nil || !strings.Contains(err.Error(), "tenantauth") {
		t.Errorf("Start without the extension: %v", err)
	}
	if !errors.Is(err, tenants.ErrExtensionNotFound) {
		t.Errorf("Start without the extension: %v does not wrap tenants.ErrExtensionNotFound", err)
	}
}

// started returns a registry-backed host with west limited to 100 samples/s
// and 2 active series.
func startedHost(t *testing.T) host {
	t.Helper()
	af := tenantauthextension.NewFactory()
	acfg := af.CreateDefaultConfig()
	unmarshalYAML(t, `
tenants:
  - id: west-pipeline-01
    limits: {samples_per_second: 100, active_series: 2, bytes_per_second: 100000}
  - id: east-pipeline-02
`, acfg)
	ext, err := af.Create(context.Background(), extensiontest.NewNopSettings(af.Type()), acfg)
	if err != nil {
		t.Fatal(err)
	}
	return host{component.MustNewID("tenantauth"): ext}
}

func startMetrics(t *testing.T, sink *consumertest.MetricsSink) processor.Metrics {
	t.Helper()
	f := NewFactory()
	p, err := f.CreateMetrics(context.Background(), processortest.NewNopSettings(f.Type()), f.CreateDefaultConfig(), sink)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background(), startedHost(t)); err != nil {
		t.Fatal(err)
	}
	return p
}

func gauge(series int, spoof string) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	if spoof != "" {
		rm.Resource().Attributes().PutStr(tenants.ResourceAttribute, spoof)
	}
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("scada_pressure_gauge")
	g := m.SetEmptyGauge()
	for i := 0; i < series; i++ {
		dp := g.DataPoints().AppendEmpty()
		dp.Attributes().PutStr("station", string(rune('a'+i)))
		dp.SetDoubleValue(1)
	}
	return md
}

func TestMetricsStampAndLimits(t *testing.T) {
	sink := new(consumertest.MetricsSink)
	p := startMetrics(t, sink)
	ctx := tenants.NewContext(context.Background(), "west-pipeline-01") // e.g. the scada receiver
	if err := p.ConsumeMetrics(ctx, gauge(1, "east-pipeline-02")); err != nil {
		t.Fatal(err)
	}
	md := sink.AllMetrics()[0]
	if got := tenants.FromResource(md.ResourceMetrics().At(0).Resource()); got != "west-pipeline-01" {
		t.Errorf("stamped %q", got)
	}
	// The 3rd distinct series exceeds active_series: 2.
	err := p.ConsumeMetrics(ctx, gauge(3, ""))
	var le *tenants.LimitError
	st, _ := status.FromError(err)
	if st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "active_series") {
		t.Errorf("3 series: %v", err)
	}
	if le, _ = err.(*tenants.LimitError); le == nil {
		t.Errorf("want a *tenants.LimitError, got %T", err)
	}
	// No tenant: refused permanently, never passed on.
	before := len(sink.AllMetrics())
	err = p.ConsumeMetrics(context.Background(), gauge(1, "west-pipeline-01"))
	if !consumererror.IsPermanent(err) || status.Code(err) != codes.Unauthenticated {
		t.Errorf("no tenant: %v", err)
	}
	// Client metadata alone is not a tenant.
	mdCtx := client.NewContext(context.Background(), client.Info{Metadata: client.NewMetadata(map[string][]string{tenants.MetadataKey: {"west-pipeline-01"}})})
	if err := p.ConsumeMetrics(mdCtx, gauge(1, "")); status.Code(err) != codes.Unauthenticated {
		t.Errorf("metadata-only tenant: %v", err)
	}
	// A deferred 403 from tenantauth.
	refCtx := client.NewContext(context.Background(), client.Info{Auth: tenants.Refusal("X-SCADA-Tenant mismatch")})
	if err := p.ConsumeMetrics(refCtx, gauge(1, "")); status.Code(err) != codes.PermissionDenied {
		t.Errorf("refusal: %v", err)
	}
	if len(sink.AllMetrics()) != before {
		t.Error("refused data was passed on")
	}
}

func TestDownstreamSeesTenantContext(t *testing.T) {
	f := NewFactory()
	var gotTenant, gotMeta string
	next := consumerFunc(func(ctx context.Context, _ plog.Logs) error {
		gotTenant = tenants.FromContext(ctx)
		if v := client.FromContext(ctx).Metadata.Get(tenants.MetadataKey); len(v) == 1 {
			gotMeta = v[0]
		}
		return nil
	})
	p, err := f.CreateLogs(context.Background(), processortest.NewNopSettings(f.Type()), f.CreateDefaultConfig(), next)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background(), startedHost(t)); err != nil {
		t.Fatal(err)
	}
	ld := plog.NewLogs()
	ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("valve 7 opened")
	if err := p.ConsumeLogs(tenants.NewContext(context.Background(), "east-pipeline-02"), ld); err != nil {
		t.Fatal(err)
	}
	if gotTenant != "east-pipeline-02" || gotMeta != "east-pipeline-02" {
		t.Errorf("downstream saw tenant %q, metadata %q", gotTenant, gotMeta)
	}
	if got := tenants.FromResource(ld.ResourceLogs().At(0).Resource()); got != "east-pipeline-02" {
		t.Errorf("log resource stamped %q", got)
	}
}

type consumerFunc func(context.Context, plog.Logs) error

func (f consumerFunc) ConsumeLogs(ctx context.Context, ld plog.Logs) error { return f(ctx, ld) }
func (consumerFunc) Capabilities() consumer.Capabilities                   { return consumer.Capabilities{} }
