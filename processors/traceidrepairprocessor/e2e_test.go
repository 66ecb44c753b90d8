//go:build e2e

package traceidrepairprocessor

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/scadaotel/scadaotel/internal/e2e"
	"github.com/scadaotel/scadaotel/testbench/mqbridge"
)

const e2eConfig = `
extensions:
  healthcheckv2: {use_v2: true, http: {endpoint: "%[1]s"}}
receivers:
  otlp:
    protocols:
      grpc: {endpoint: "%[2]s"}
processors:
  memory_limiter: {check_interval: 1s, limit_mib: 512}
  traceidrepair:
    hold: {wait: 2s}
exporters:
  otlp_grpc:
    endpoint: "%[3]s"
    tls: {insecure: true}
service:
  extensions: [healthcheckv2]
  telemetry: {metrics: {level: none}}
  pipelines:
    traces:
      receivers: [otlp]
      processors: [memory_limiter, traceidrepair]
      exporters: [otlp_grpc]
`

// TestEndToEndJaeger sends damaged mq-bridge traffic to the real binary
// (otlp -> memory_limiter -> traceidrepair -> otlp_grpc) and reads every
// request back from Jaeger: one trace holding the legacy spans, whose root
// hangs under the bridge's producer span.
func TestEndToEndJaeger(t *testing.T) {
	jaeger := e2e.StartJaeger(t)
	health, grpcAddr := e2e.FreeAddr(t), e2e.FreeAddr(t)
	app := e2e.StartCollector(t, fmt.Sprintf(e2eConfig, health, grpcAddr, jaeger.OTLPGRPC))

	cc, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer cc.Close()
	client := ptraceotlp.NewGRPCClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	truth, err := mqbridge.Generate(mqbridge.Config{
		Seed:     42,
		Requests: 24,
		Tenants:  []string{"west-pipeline-01"},
		Damages:  []mqbridge.Damage{mqbridge.TruncLeft, mqbridge.TruncRight, mqbridge.ZeroPadLeft, mqbridge.ZeroPadRight, mqbridge.ZeroPadSuffix, mqbridge.Dropped},
		Start:    time.Now().Add(-time.Minute),
	}, func(b mqbridge.Batch) error {
		_, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(b.Traces))
		return err
	})
	require.NoError(t, err)

	for _, r := range truth.Requests {
		e2e.Eventually(t, 30*time.Second, func() error { return checkJaegerTrace(jaeger.QueryURL, r) })
	}
	code, _ := app.Stop(t)
	require.Equal(t, 0, code, "clean shutdown")
}

type jaegerTraces struct {
	Data []struct {
		TraceID string `json:"traceID"`
		Spans   []struct {
			SpanID        string `json:"spanID"`
			OperationName string `json:"operationName"`
			References    []struct {
				RefType string `json:"refType"`
				TraceID string `json:"traceID"`
				SpanID  string `json:"spanID"`
			} `json:"references"`
		} `json:"spans"`
	} `json:"data"`
}

func checkJaegerTrace(queryURL string, r mqbridge.Request) error {
	resp, err := http.Get(queryURL + "/api/traces/" + r.Original.String())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("trace %s (%s): HTTP %s", r.Original, r.Damage, resp.Status)
	}
	var body jaegerTraces
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return err
	}
	if len(body.Data) != 1 {
		return fmt.Errorf("trace %s: %d traces", r.Original, len(body.Data))
	}
	tr := body.Data[0]
	if want := 6 + len(r.LegacySpans); len(tr.Spans) != want {
		return fmt.Errorf("trace %s (%s): %d spans, want %d", r.Original, r.Damage, len(tr.Spans), want)
	}
	parents := map[string]string{}
	for _, s := range tr.Spans {
		for _, ref := range s.References {
			if ref.RefType == "CHILD_OF" {
				if !strings.EqualFold(ref.TraceID, r.Original.String()) {
					return fmt.Errorf("span %s refers to trace %s", s.SpanID, ref.TraceID)
				}
				parents[s.SpanID] = ref.SpanID
			}
		}
	}
	root := r.LegacySpans[0].String()
	if got := parents[root]; got != r.BridgeSpan.String() {
		return fmt.Errorf("trace %s (%s): legacy root %s has parent %q, want the bridge span %s", r.Original, r.Damage, root, got, r.BridgeSpan)
	}
	for _, s := range r.LegacySpans[1:] {
		if parents[s.String()] != root {
			return fmt.Errorf("legacy span %s not under the legacy root", s)
		}
	}
	return nil
}

// TestEndToEndKillDuringHold: a request whose fragment is held is not
// answered while it is held; when the appliance is killed (SIGKILL) during
// the hold, the sender gets an error (nothing was acknowledged), and its
// retry after a restart ends up repaired in Jaeger, once.
func TestEndToEndKillDuringHold(t *testing.T) {
	jaeger := e2e.StartJaeger(t)
	health, grpcAddr := e2e.FreeAddr(t), e2e.FreeAddr(t)
	cfg := strings.Replace(fmt.Sprintf(e2eConfig, health, grpcAddr, jaeger.OTLPGRPC), "hold: {wait: 2s}", "hold: {wait: 30s}", 1)
	app := e2e.StartCollector(t, cfg)

	cc, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer cc.Close()
	client := ptraceotlp.NewGRPCClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	frag := func() ptraceotlp.ExportRequest {
		return ptraceotlp.NewExportRequestFromTraces(fragment(tenantA, "0000000000000000"+origLo, "", nil))
	}
	answered := make(chan error, 1)
	go func() {
		_, err := client.Export(ctx, frag())
		answered <- err
	}()
	select {
	case err := <-answered:
		t.Fatalf("the held request was answered before its fragment was released: %v", err)
	case <-time.After(2 * time.Second):
	}
	app.Kill(t)
	select {
	case err := <-answered:
		require.Error(t, err, "a request held when the appliance died must not be acknowledged")
	case <-time.After(20 * time.Second):
		t.Fatal("the held request was not answered after the kill")
	}

	// The sender retries after the restart; the original arrives too.
	app = app.Restart(t)
	_, err = client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(original(tenantA)))
	require.NoError(t, err)
	_, err = client.Export(ctx, frag())
	require.NoError(t, err)
	e2e.Eventually(t, 30*time.Second, func() error {
		resp, err := http.Get(jaeger.QueryURL + "/api/traces/" + origID)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var body jaegerTraces
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			return err
		}
		if len(body.Data) != 1 || len(body.Data[0].Spans) != 4 {
			return fmt.Errorf("trace %s: want 1 trace of 4 spans, got %+v", origID, body.Data)
		}
		for _, s := range body.Data[0].Spans {
			if s.SpanID != "cccccccccccccccc" {
				continue
			}
			for _, ref := range s.References {
				if ref.RefType == "CHILD_OF" && ref.SpanID == bridgeID {
					return nil
				}
			}
			return fmt.Errorf("fragment root not under the bridge span: %+v", s.References)
		}
		return fmt.Errorf("fragment root missing")
	})
	code, _ := app.Stop(t)
	require.Equal(t, 0, code, "clean shutdown")
}
