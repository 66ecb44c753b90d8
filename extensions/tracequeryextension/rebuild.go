package tracequeryextension

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/scadaotel/scadaotel/internal/traceindex"
)

// rebuildIndex fills a new index from what Jaeger already holds: nothing
// when Jaeger has no service (a new appliance); else, once, every service's
// last search_depth traces, each span recorded under its process's tenant,
// and ids the index does not know are asked to Jaeger for one lookback,
// since the scan cannot see every stored trace.
func (p *proxy) rebuildIndex(ctx context.Context) error {
	code, body, err := p.get(ctx, "/api/services", nil)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("trace store answered %d", code)
	}
	var all struct {
		Data []string `json:"data"`
	}
	if err := json.Unmarshal(body, &all); err != nil {
		return fmt.Errorf("cannot decode Jaeger services: %w", err)
	}
	if len(all.Data) == 0 {
		return nil
	}
	p.ix.Load().SetUncertainUntil(p.now().Add(p.cfg.ServicesLookback))
	for _, service := range all.Data {
		data, err := p.searchRound(ctx, p.probeQuery(service))
		if err != nil {
			return err
		}
		for _, tr := range data {
			p.recordV1(tr)
		}
	}
	if p.logger != nil {
		p.logger.Info("tenant_trace_query: index built from the trace store (first start over stored traces)",
			zap.Int("services", len(all.Data)))
	}
	return nil
}

// recordV1 records one Jaeger trace into the index, each process under its
// own tenant (processes without exactly one tenant are skipped).
func (p *proxy) recordV1(tr v1Trace) {
	var id [16]byte
	if _, err := hex.Decode(id[:], []byte(strings.Repeat("0", max(32-len(tr.TraceID), 0))+tr.TraceID)); err != nil {
		return
	}
	byTenant := map[string]ptrace.Traces{}
	resources := map[string]ptrace.ScopeSpans{}
	for _, raw := range tr.Spans {
		var h v1SpanHead
		if json.Unmarshal(raw, &h) != nil || hasTenantTag(h.Tags) {
			continue
		}
		pr, ok := tr.Processes[h.ProcessID]
		tenant := processTenant(pr)
		if !ok || tenant == "" {
			continue
		}
		td, ok := byTenant[tenant]
		if !ok {
			td = ptrace.NewTraces()
			byTenant[tenant] = td
		}
		ss, ok := resources[h.ProcessID]
		if !ok {
			rs := td.ResourceSpans().AppendEmpty()
			rs.Resource().Attributes().PutStr("service.name", pr.ServiceName)
			ss = rs.ScopeSpans().AppendEmpty()
			resources[h.ProcessID] = ss
		}
		s := ss.Spans().AppendEmpty()
		s.SetName(h.OperationName)
		s.SetTraceID(id)
		for _, kv := range h.Tags {
			if kv.Key == "span.kind" {
				k, _ := kv.str()
				s.SetKind(spanKindOf(k))
			}
		}
	}
	for tenant, td := range byTenant {
		p.ix.Load().RecordTraces(tenant, td)
	}
}

func spanKindOf(s string) ptrace.SpanKind {
	for _, k := range []ptrace.SpanKind{ptrace.SpanKindServer, ptrace.SpanKindClient, ptrace.SpanKindProducer,
		ptrace.SpanKindConsumer, ptrace.SpanKindInternal} {
		if traceindex.SpanKind(k) == s {
			return k
		}
	}
	return ptrace.SpanKindUnspecified
}
