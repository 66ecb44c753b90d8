//go:build e2e

package tenants_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"

	"github.com/scadaotel/scadaotel/internal/e2e"
	"github.com/scadaotel/scadaotel/tenants"
)

// gaugeMetrics is one scada_pressure_gauge point; spoof, if set, is sent as
// both the scada.tenant resource attribute and a scada_tenant point label.
func gaugeMetrics(station string, value float64, at time.Time, spoof string) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "rtu-poller")
	if spoof != "" {
		rm.Resource().Attributes().PutStr(tenants.ResourceAttribute, spoof)
	}
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("scada_pressure_gauge")
	dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetDoubleValue(value)
	dp.SetTimestamp(pcommon.NewTimestampFromTime(at))
	dp.Attributes().PutStr("station", station)
	if spoof != "" {
		dp.Attributes().PutStr(tenants.MetricLabel, spoof)
	}
	return md
}

func (a *appliance) postMetrics(t *testing.T, md pmetric.Metrics, headers ...string) (int, string) {
	t.Helper()
	body, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	r := a.postOTLP(t, "/v1/metrics", body, headers...)
	return r.code, r.body
}

type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// promVector runs an instant query as a Prometheus client would and returns
// the samples (the HTTP status must be 200).
func promVector(t *testing.T, base, q string, at time.Time, token string) []promSample {
	t.Helper()
	code, body := query(t, base, "/api/v1/query", url.Values{"query": {q}, "time": {fmt.Sprint(at.Unix())}}, "Authorization", token)
	if code != 200 {
		t.Fatalf("query %s: %d %s", q, code, body)
	}
	var r struct {
		Status string
		Data   struct{ Result []promSample }
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil || r.Status != "success" {
		t.Fatalf("query %s: %v %s", q, err, body)
	}
	return r.Data.Result
}

// testMetricsQueryIsolation: the metrics write path and the tenant-scoped
// Prometheus query API of the real binary, with both tenants writing the
// same metric name and labels (the metrics analogue of a service-name
// collision) and west trying to spoof east's tenant label.
func testMetricsQueryIsolation(t *testing.T, a *appliance) {
	bearerW, bearerE := "Bearer "+westToken, "Bearer "+eastToken
	base := "http://" + a.promAddr
	at := time.Now().Add(-time.Minute).Truncate(time.Second)

	for _, c := range []struct {
		name    string
		headers []string
		code    int
	}{
		{"no token", nil, 401},
		{"wrong token", []string{"Authorization", "Bearer wrong"}, 401},
		{"west token, east header", []string{"Authorization", bearerW, "X-Scada-Tenant", eastID}, 403},
		{"header case trick", []string{"Authorization", bearerW, "X-Scada-Tenant", strings.ToUpper(westID)}, 403},
		{"empty header", []string{"Authorization", bearerW, "X-Scada-Tenant", ""}, 403},
	} {
		if code, body := a.postMetrics(t, gaugeMetrics("refused", 999, at, ""), c.headers...); code != c.code {
			t.Errorf("write %s: %d %s, want %d", c.name, code, body, c.code)
		}
	}
	if code, body := a.postMetrics(t, gaugeMetrics("s1", 10, at, eastID), "Authorization", bearerW); code != 200 {
		t.Fatalf("west write: %d %s", code, body)
	}
	if code, body := a.postMetrics(t, gaugeMetrics("s1", 20, at, ""), "Authorization", bearerE); code != 200 {
		t.Fatalf("east write: %d %s", code, body)
	}

	// Each tenant sees exactly its own point of the colliding series,
	// whatever west claimed; the tenant is implicit (no tenant label in
	// any answer, issue 23).
	for _, c := range []struct {
		token, tenant string
		value         string
	}{{bearerW, westID, "10"}, {bearerE, eastID, "20"}} {
		e2e.Eventually(t, 15*time.Second, func() error {
			v := promVector(t, base, `scada_pressure_gauge{station="s1"}`, at, c.token)
			if len(v) != 1 || v[0].Value[1] != c.value || v[0].Metric[tenants.MetricLabel] != "" {
				return fmt.Errorf("%s sees %+v, want one point %s without a tenant label", c.tenant, v, c.value)
			}
			return nil
		})
	}

	// Selectors, label APIs and parameters that would reach the other
	// tenant return nothing of it.
	for _, q := range []string{
		`{__name__=~".+"}`,
		`{scada_tenant="` + eastID + `"}`,
		`{__name__=~".+", scada_tenant!="` + westID + `"}`,
		`scada_pressure_gauge or {scada_tenant=~"east.*"}`,
		`sum by (scada_tenant) (scada_pressure_gauge)`,
		`{scada_tenant="` + eastID + `"} unless scada_pressure_gauge`,
		`max_over_time({scada_tenant=~"e.*"}[5m:1s])`,
		`{station="refused"}`,
	} {
		for _, s := range promVector(t, base, q, at, bearerW) {
			if tl, ok := s.Metric[tenants.MetricLabel]; (ok && tl != westID) || s.Value[1] == "20" || s.Value[1] == "999" {
				t.Errorf("west's %s returned %+v", q, s)
			}
		}
	}
	code, body := query(t, base, "/api/v1/label/"+tenants.MetricLabel+"/values", nil, "Authorization", bearerW)
	if code != 200 || strings.Contains(body, eastID) || !strings.Contains(body, `"data":[]`) {
		t.Errorf("west's tenant label values: %d %s, want none", code, body)
	}
	code, body = query(t, base, "/api/v1/series", url.Values{"match[]": {`{__name__=~".+"}`}}, "Authorization", bearerW)
	if code != 200 || strings.Contains(body, eastID) {
		t.Errorf("west's series: %d %s", code, body)
	}
	code, body = query(t, base, "/api/v1/series", nil, "Authorization", bearerW)
	if strings.Contains(body, eastID) {
		t.Errorf("west's series without a matcher: %d %s", code, body)
	}
	code, body = query(t, base, "/api/v1/labels", nil, "Authorization", bearerW)
	if code != 200 || strings.Contains(body, eastID) {
		t.Errorf("west's labels: %d %s", code, body)
	}
	for name, q := range map[string]url.Values{
		"extra_label":   {"query": {"scada_pressure_gauge"}, "extra_label": {tenants.MetricLabel + "=" + eastID}},
		"extra_filters": {"query": {"scada_pressure_gauge"}, "extra_filters[]": {`{` + tenants.MetricLabel + `="` + eastID + `"}`}},
	} {
		code, body = query(t, base, "/api/v1/query", q, "Authorization", bearerW)
		if code == 200 || strings.Contains(body, `"20"`) {
			t.Errorf("%s override: %d %s, want a refusal", name, code, body)
		}
	}
	// Metadata: east's own metric family only appears for east.
	md := gaugeMetrics("s2", 30, at, "")
	md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).SetName("east_only_flow_rate")
	md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).SetDescription("east secret flow")
	if code, body := a.postMetrics(t, md, "Authorization", bearerE); code != 200 {
		t.Fatalf("east write: %d %s", code, body)
	}
	e2e.Eventually(t, 15*time.Second, func() error {
		if _, body := query(t, base, "/api/v1/metadata", nil, "Authorization", bearerE); !strings.Contains(body, "east_only_flow_rate") {
			return fmt.Errorf("east's metadata lacks its own metric: %s", body)
		}
		return nil
	})
	if code, body := query(t, base, "/api/v1/metadata", nil, "Authorization", bearerW); code != 200 || strings.Contains(body, "east_only_flow_rate") || strings.Contains(body, "east secret") {
		t.Errorf("west's metadata: %d %s", code, body)
	}

	// Read authentication fails closed like the write side.
	for _, c := range []struct {
		name    string
		headers []string
		code    int
	}{
		{"no token", nil, 401},
		{"wrong token", []string{"Authorization", "Bearer wrong"}, 401},
		{"west token, east header", []string{"Authorization", bearerW, "X-SCADA-Tenant", eastID}, 403},
		{"header case trick", []string{"Authorization", bearerW, "X-SCADA-Tenant", strings.ToUpper(westID)}, 403},
		{"header whitespace trick", []string{"Authorization", bearerW, "X-SCADA-Tenant", westID + "\t."}, 403},
		{"empty header", []string{"Authorization", bearerW, "X-SCADA-Tenant", ""}, 403},
		{"over-long id", []string{"Authorization", bearerW, "X-SCADA-Tenant", strings.Repeat("w", 200)}, 403},
	} {
		code, body := query(t, base, "/api/v1/query", url.Values{"query": {"scada_pressure_gauge"}, "time": {fmt.Sprint(at.Unix())}}, c.headers...)
		if code != c.code || strings.Contains(body, `"20"`) || strings.Contains(body, `"10"`) {
			t.Errorf("read %s: %d %s, want %d and no data", c.name, code, body, c.code)
		}
	}
}
