package durableotlpexporter

import (
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/scadaotel/scadaotel/tenants"
)

// noTenant labels spans whose resource has no tenant (a pipeline without
// tenantstamp); they are still kept, never dropped.
const noTenant = "none"

type tenantTraces struct {
	tenant string
	td     ptrace.Traces
}

// byTenant groups td's resources by their stamped tenant, in first-seen
// order, so every dead-letter entry belongs to one tenant.
func byTenant(td ptrace.Traces) []tenantTraces {
	var out []tenantTraces
	idx := map[string]int{}
	rss := td.ResourceSpans()
	for i := range rss.Len() {
		t := resourceTenant(rss.At(i))
		j, ok := idx[t]
		if !ok {
			j = len(out)
			idx[t] = j
			out = append(out, tenantTraces{tenant: t, td: ptrace.NewTraces()})
		}
		rss.At(i).CopyTo(out[j].td.ResourceSpans().AppendEmpty())
	}
	return out
}

func firstTenant(td ptrace.Traces) string {
	if td.ResourceSpans().Len() == 0 {
		return noTenant
	}
	return resourceTenant(td.ResourceSpans().At(0))
}

func resourceTenant(rs ptrace.ResourceSpans) string {
	if t := tenants.FromResource(rs.Resource()); t != "" {
		return t
	}
	return noTenant
}
