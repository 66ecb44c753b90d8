package promremotewritereceiver

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/golang/snappy"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/scadaotel/scadaotel/tenants"
)

// blockingSink holds every request until release is closed.
type blockingSink struct {
	inside  atomic.Int32
	release chan struct{}
}

func (b *blockingSink) ConsumeMetrics(context.Context, pmetric.Metrics) error {
	b.inside.Add(1)
	<-b.release
	return nil
}

func (*blockingSink) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

// TestConcurrentDecodesAreBounded: with max_concurrent_decodes 2, a third
// request waits (its body not yet read or decoded) until one of the first
// two has been handed on.
func TestConcurrentDecodesAreBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := createDefaultConfig().(*Config)
		cfg.MaxConcurrentDecodes = 2
		sink := &blockingSink{release: make(chan struct{})}
		r, err := newReceiver(cfg, receivertest.NewNopSettings(component.MustNewType(typeStr)), sink)
		if err != nil {
			t.Fatal(err)
		}
		body := snappy.Encode(nil, bomb(t, 1000))
		codes := make(chan int, 3)
		for range 3 {
			go func() {
				req := httptest.NewRequest(http.MethodPost, "/api/v1/write", bytes.NewReader(body))
				req = req.WithContext(tenants.NewContext(req.Context(), "north"))
				rec := httptest.NewRecorder()
				r.handleWrite(rec, req)
				codes <- rec.Code
			}()
		}
		synctest.Wait()
		if n := sink.inside.Load(); n != 2 {
			t.Fatalf("%d requests in the pipeline at once, want 2", n)
		}
		close(sink.release)
		for range 3 {
			if code := <-codes; code != http.StatusNoContent {
				t.Errorf("HTTP %d", code)
			}
		}
		if n := sink.inside.Load(); n != 3 {
			t.Fatalf("%d requests handed on, want 3", n)
		}
	})
}
