package alarmconnector

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

const (
	benchRTUs   = 500
	benchPoints = 20 // per RTU: 10,000 definitions
)

// benchDefinitions: one limit definition (HH and H) per point of every RTU,
// each on its own series (station and point).
func benchDefinitions(tb testing.TB, path string) {
	var b strings.Builder
	b.WriteString("tenants:\n  west-pipeline-01:\n    alarms:\n")
	for r := 0; r < benchRTUs; r++ {
		for p := 0; p < benchPoints; p++ {
			fmt.Fprintf(&b, "      - {id: R%03d-P%02d, series: 'scada_pressure_gauge{station=\"ST-%03d\", point=\"P%02d\"}', limits: {hh: 90, h: 80}, deadband: 1, priority: high, message: {en: x, zh-CN: y}}\n", r, p, r, p)
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkEvaluate: 10,000 definitions; each request is one RTU's poll
// (20 pressure samples and scada_rtu_up), values inside the limits (the
// normal case: no transition, no write). Reports ns per sample and the heap
// held per definition.
func BenchmarkEvaluate(b *testing.B) {
	dir := b.TempDir()
	defs := filepath.Join(dir, "alarms.yaml")
	benchDefinitions(b, defs)
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	cfg := createDefaultConfig().(*Config)
	cfg.DefinitionsFile = defs
	cfg.State.Directory = filepath.Join(dir, "state")
	cfg.HTTP = configoptional.None[confighttp.ServerConfig]()
	set := connectortest.NewNopSettings(componentType)
	set.ID = component.NewIDWithName(componentType, "bench")
	c := newConnector(set, cfg, &recSink{})
	if err := c.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = c.Shutdown(context.Background()) }()
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	reqs := make([]pmetric.Metrics, benchRTUs)
	for r := range reqs {
		pts := map[string]float64{}
		for p := 0; p < benchPoints; p++ {
			pts[fmt.Sprintf("P%02d", p)] = 50 + float64(p)
		}
		reqs[r] = rtuBatch(tenantA, fmt.Sprintf("rtu-%03d", r), fmt.Sprintf("ST-%03d", r), true, pts)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if err := c.ConsumeMetrics(context.Background(), reqs[i%benchRTUs]); err != nil {
			b.Fatal(err)
		}
	}
	el := time.Since(start)
	b.ReportMetric(float64(el.Nanoseconds())/float64(b.N*(benchPoints+1)), "ns/sample")
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(benchRTUs*benchPoints), "heapB/definition")
}
