package durableotlpexporter

import (
	"bytes"
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/scadaotel/scadaotel/internal/deadletter"
)

type metricsSink struct {
	pmetricotlp.UnimplementedGRPCServer
	mu     sync.Mutex
	points int
	auth   []string
}

func (m *metricsSink) Export(ctx context.Context, req pmetricotlp.ExportRequest) (pmetricotlp.ExportResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	m.mu.Lock()
	m.points += req.Metrics().DataPointCount()
	m.auth = append(m.auth, md.Get("authorization")...)
	m.mu.Unlock()
	return pmetricotlp.NewExportResponse(), nil
}

// A metrics entry kept by the victoriametrics exporter's remote mode is
// replayed to an OTLP endpoint (the appliance's receiver) with the tenant's
// token, once, with progress saved.
func TestReplayMetricsWithHeader(t *testing.T) {
	dir := t.TempDir()
	store, err := deadletter.Open(deadletter.Config{Directory: dir})
	if err != nil {
		t.Fatal(err)
	}
	m := pmetric.NewMetrics()
	g := m.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	g.SetName("scada_pressure_gauge")
	for i := range 3 {
		g.SetEmptyGauge().DataPoints().AppendEmpty().SetDoubleValue(float64(i))
	}
	data, _ := (&pmetric.ProtoMarshaler{}).MarshalMetrics(m)
	if err := store.Put(deadletter.Entry{Time: time.Now(), Tenant: "west-pipeline-01", Signal: "metrics", Reason: "refused", Items: m.DataPointCount(), Data: data}); err != nil {
		t.Fatal(err)
	}
	_ = store.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sink := &metricsSink{}
	srv := grpc.NewServer()
	pmetricotlp.RegisterGRPCServer(srv, sink)
	go func() { _ = srv.Serve(ln) }()
	defer srv.Stop()

	opts := replayOptions{dir: dir, endpoint: ln.Addr().String(), insecure: true, maxBytes: DefaultMaxRequestBytes,
		timeout: 5 * time.Second, headers: []string{"Authorization=Bearer west-token"}}
	var out bytes.Buffer
	for range 2 {
		if err := replay(context.Background(), &out, opts); err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
	}
	if sink.points != m.DataPointCount() || len(sink.auth) != 1 || sink.auth[0] != "Bearer west-token" {
		t.Fatalf("sink got %d points, auth %v (want %d once, with the token)", sink.points, sink.auth, m.DataPointCount())
	}
	if err := replay(context.Background(), &out, replayOptions{dir: dir, endpoint: "x", insecure: true, headers: []string{"nokey"}}); err == nil {
		t.Fatal("bad --header accepted")
	}
}
