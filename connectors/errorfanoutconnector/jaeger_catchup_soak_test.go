//go:build e2e && soak

package errorfanoutconnector_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/scadaotel/scadaotel/internal/e2e"
)

// TestJaegerCatchUpSoak measures how long the trace store takes to catch up
// after a 2-minute Jaeger outage, for the default config's exporter and for
// the candidate fixes, side by side (one Jaeger and one appliance each).
// Catch-up = from Jaeger healthy again to every trace sent so far readable.
// About 4-5 minutes:
//
//	flock /tmp/scadaotel-go.lock go test -tags soak -run TestJaegerCatchUpSoak -timeout 20m -v ./connectors/errorfanoutconnector/
func TestJaegerCatchUpSoak(t *testing.T) {
	variants := []struct {
		name     string
		exporter func(j *e2e.Jaeger) string
	}{
		{"default-otlp_grpc", func(j *e2e.Jaeger) string {
			return `otlp_grpc/jaeger:
    endpoint: ` + j.OTLPGRPC + `
    tls: {insecure: true}
    sending_queue: {storage: file_storage, queue_size: 50000, batch: {flush_timeout: 200ms}}
    retry_on_failure: {enabled: true, max_elapsed_time: 0s}`
		}},
		{"otlp_grpc-wait_for_ready-retry5s", func(j *e2e.Jaeger) string {
			return `otlp_grpc/jaeger:
    endpoint: ` + j.OTLPGRPC + `
    tls: {insecure: true}
    wait_for_ready: true
    timeout: 10s
    sending_queue: {storage: file_storage, queue_size: 50000, batch: {flush_timeout: 200ms}}
    retry_on_failure: {enabled: true, initial_interval: 1s, max_interval: 5s, max_elapsed_time: 0s}`
		}},
		{"otlp_http-retry5s", func(j *e2e.Jaeger) string {
			return `otlp_http/jaeger:
    endpoint: http://` + j.OTLPHTTP + `
    sending_queue: {storage: file_storage, queue_size: 50000, batch: {flush_timeout: 200ms}}
    retry_on_failure: {enabled: true, initial_interval: 1s, max_interval: 5s, max_elapsed_time: 0s}`
		}},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			jaeger := e2e.StartJaegerIn(t, t.TempDir())
			health, otlpHTTP := e2e.FreeAddr(t), e2e.FreeAddr(t)
			exp := v.exporter(jaeger)
			name := exp[:len("otlp_xxxx/jaeger")]
			cfg := `
extensions:
  healthcheckv2: {use_v2: true, http: {endpoint: ` + health + `}}
  file_storage: {directory: "${env:SCADAOTEL_DATA_DIR}/queue", create_directory: true, fsync: true}
receivers:
  otlp:
    protocols:
      http: {endpoint: ` + otlpHTTP + `}
exporters:
  ` + exp + `
service:
  extensions: [healthcheckv2, file_storage]
  telemetry: {metrics: {level: none}}
  pipelines:
    traces: {receivers: [otlp], exporters: [` + name + `]}
`
			e2e.StartCollector(t, cfg, "SCADAOTEL_DATA_DIR="+t.TempDir())
			k := key{"west-pipeline-01", "catchup-" + v.name}
			l := &load{url: "http://" + otlpHTTP + "/v1/traces", spans: map[key]int{}, errs: map[key]int{}, traces: map[key][]string{}}
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() {
				defer close(done)
				tick := time.NewTicker(250 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-stop:
						return
					case <-tick.C:
						l.send(t, k, 1)
					}
				}
			}()
			time.Sleep(10 * time.Second)
			code, _ := jaeger.Stop(t)
			t.Logf("Jaeger stopped (exit %d)", code)
			time.Sleep(2 * time.Minute)
			close(stop)
			<-done
			sent := len(l.traces[k])
			jaeger.Restart(t)
			back := time.Now()
			e2e.Eventually(t, 4*time.Minute, func() error {
				found, _, err := jaegerTraces(jaeger.QueryURL, k.service, k.tenant)
				if err != nil {
					return err
				}
				if len(found) < sent {
					return fmt.Errorf("%d of %d traces in Jaeger", len(found), sent)
				}
				return nil
			})
			t.Logf("%s: all %d traces in Jaeger %v after it came back", v.name, sent, time.Since(back).Round(100*time.Millisecond))
		})
	}
}
