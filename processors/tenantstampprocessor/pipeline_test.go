package tenantstampprocessor

import (
	"bytes"
	"context"
	"github.com/scadaotel/scadaotel/internal/e2e"
	"io"
	"net/http"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"gopkg.in/yaml.v3"

	"github.com/scadaotel/scadaotel/extensions/tenantauthextension"
	"github.com/scadaotel/scadaotel/tenants"
)

// host serves extensions to components, as the collector service does.
type host map[component.ID]component.Component

func (h host) GetExtensions() map[component.ID]component.Component { return h }

func unmarshalYAML(t testing.TB, text string, cfg component.Config) {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(text), &m); err != nil {
		t.Fatal(err)
	}
	if err := confmap.NewFromStringMap(m).Unmarshal(cfg); err != nil {
		t.Fatal(err)
	}
	if v, ok := cfg.(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			t.Fatal(err)
		}
	}
}

// pipeline is a real OTLP receiver (gRPC and HTTP) -> tenantstamp -> sink,
// authenticated by a real tenantauth extension. With stamp=false it is the
// plain otlp -> sink pass-through used as the benchmark baseline.
type pipeline struct {
	grpcAddr, httpAddr string
	sink               *consumertest.TracesSink
	conn               *grpc.ClientConn
}

const (
	westToken = "west-secret-token"
	eastToken = "east-secret-token"
)

func authConfig(extra string) string {
	return `
tenants:
  - id: west-pipeline-01
    token_sha256: [` + tenants.HashToken(westToken) + `]
    limits: {spans_per_second: 100}
  - id: east-pipeline-02
    token_sha256: [` + tenants.HashToken(eastToken) + `]
` + extra
}

func startPipeline(t testing.TB, stamp bool, authYAML string, next consumer.Traces) *pipeline {
	t.Helper()
	ctx := context.Background()
	p := &pipeline{grpcAddr: e2e.FreeAddr(t), httpAddr: e2e.FreeAddr(t), sink: new(consumertest.TracesSink)}
	if next == nil {
		next = p.sink
	}
	h := host{}

	authExt := ""
	if stamp {
		af := tenantauthextension.NewFactory()
		acfg := af.CreateDefaultConfig()
		unmarshalYAML(t, authYAML, acfg)
		ext, err := af.Create(ctx, extensiontest.NewNopSettings(af.Type()), acfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := ext.Start(ctx, h); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ext.Shutdown(ctx) })
		h[component.MustNewID("tenantauth")] = ext
		authExt = "\n    auth: {authenticator: tenantauth}\n    middlewares: [{id: tenantauth}]"

		pf := NewFactory()
		proc, err := pf.CreateTraces(ctx, processortest.NewNopSettings(pf.Type()), pf.CreateDefaultConfig(), next)
		if err != nil {
			t.Fatal(err)
		}
		if err := proc.Start(ctx, h); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = proc.Shutdown(ctx) })
		next = proc
	}

	rf := otlpreceiver.NewFactory()
	rcfg := rf.CreateDefaultConfig()
	unmarshalYAML(t, `
protocols:
  grpc:
    endpoint: `+p.grpcAddr+authExt+`
  http:
    endpoint: `+p.httpAddr+authExt+`
`, rcfg)
	recv, err := rf.CreateTraces(ctx, receivertest.NewNopSettings(rf.Type()), rcfg, next)
	if err != nil {
		t.Fatal(err)
	}
	if err := recv.Start(ctx, h); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = recv.Shutdown(ctx) })

	p.conn, err = grpc.NewClient(p.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.conn.Close() })
	return p
}

func testTraces(spans int, service, spoofTenant string) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	if spoofTenant != "" {
		rs.Resource().Attributes().PutStr(tenants.ResourceAttribute, spoofTenant)
	}
	ss := rs.ScopeSpans().AppendEmpty()
	now := time.Now()
	for i := 0; i < spans; i++ {
		s := ss.Spans().AppendEmpty()
		s.SetName("read-holding-registers")
		s.SetTraceID([16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, byte(i)})
		s.SetSpanID([8]byte{1, 2, 3, 4, 5, 6, 7, byte(i + 1)})
		s.SetStartTimestamp(0)
		s.SetStartTimestamp(pcommonTime(now))
		s.SetEndTimestamp(pcommonTime(now.Add(time.Millisecond)))
	}
	return td
}

// postHTTP sends td as OTLP/HTTP protobuf with the given headers.
func (p *pipeline) postHTTP(t testing.TB, td ptrace.Traces, headers map[string]string) (*http.Response, string) {
	t.Helper()
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, "http://"+p.httpAddr+"/v1/traces", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	for k, v := range headers {
		req.Header[k] = []string{v} // verbatim key: no canonicalisation
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	return resp, string(msg)
}

// exportGRPC sends td over OTLP/gRPC with the given metadata pairs.
func (p *pipeline) exportGRPC(td ptrace.Traces, kv ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, kv...)
	_, err := ptraceotlp.NewGRPCClient(p.conn).Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
	return err
}

// benchHost is a host holding a started tenantauth extension.
func benchHost(t testing.TB) host {
	t.Helper()
	ctx := context.Background()
	af := tenantauthextension.NewFactory()
	acfg := af.CreateDefaultConfig()
	unmarshalYAML(t, benchAuth(), acfg)
	ext, err := af.Create(ctx, extensiontest.NewNopSettings(af.Type()), acfg)
	if err != nil {
		t.Fatal(err)
	}
	return host{component.MustNewID("tenantauth"): ext}
}
