//go:build e2e

package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/scadaotel/scadaotel/internal/e2e"
)

// TestAcknowledgedTracesSurviveOutageAndCrash: with Jaeger down, the
// appliance still acknowledges traces (they are in the fsynced persistent
// queue); it is then killed with SIGKILL, Jaeger comes up, the appliance
// restarts on the same data directory, and every acknowledged trace reaches
// Jaeger.
func TestAcknowledgedTracesSurviveOutageAndCrash(t *testing.T) {
	jaegerData := t.TempDir()
	jaeger := e2e.StartJaegerIn(t, jaegerData)
	if code, _ := jaeger.Stop(t); code != 0 {
		t.Fatalf("jaeger exit code %d", code)
	}

	env := newApplianceEnv(t)
	dataDir := t.TempDir()
	app := e2e.StartCollectorArgs(t, []string{"--data-dir", dataDir}, env.health, env.vars(jaeger, dataDir, "127.0.0.1:1")...)

	ctx := context.Background()
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(env.grpc), otlptracegrpc.WithInsecure(),
		otlptracegrpc.WithHeaders(map[string]string{"Authorization": "Bearer " + westToken}))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = exp.Shutdown(ctx) }()
	res := resource.NewSchemaless(attribute.String("service.name", "dispatch-service"))
	const n = 50
	ids := make([]string, 0, n)
	for i := 0; i < n; i++ {
		spans, id := makeSpans(res, fmt.Sprintf("dispatch-%d", i))
		ids = append(ids, id)
		if err := exp.ExportSpans(ctx, spans); err != nil {
			t.Fatalf("export while Jaeger is down must still be acknowledged: %v", err)
		}
	}

	app.Kill(t) // crash: nothing acknowledged may be lost
	jaeger.Restart(t)
	app = app.Restart(t, env.vars(jaeger, dataDir, "127.0.0.1:1")...)

	for _, id := range ids {
		e2e.Eventually(t, 60*time.Second, func() error {
			var body struct {
				Data []struct {
					Spans []struct{} `json:"spans"`
				} `json:"data"`
			}
			if err := tryGetJSON(jaeger.QueryURL+"/api/traces/"+id, &body, ""); err != nil {
				return err
			}
			if len(body.Data) != 1 || len(body.Data[0].Spans) != 1 {
				return fmt.Errorf("trace %s not complete in Jaeger: %+v", id, body)
			}
			return nil
		})
	}
	if code, _ := app.Stop(t); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}
