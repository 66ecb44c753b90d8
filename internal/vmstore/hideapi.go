package vmstore

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/VictoriaMetrics/VictoriaMetrics/app/vmstorage"
	"github.com/VictoriaMetrics/VictoriaMetrics/lib/querytracer"
	"github.com/VictoriaMetrics/VictoriaMetrics/lib/storage"
	"github.com/VictoriaMetrics/VictoriaMetrics/lib/vmselectapi"

	"github.com/scadaotel/scadaotel/tenants"
)

// hidingAPI is the storage's select API as the label endpoints see it:
// /api/v1/series, /api/v1/labels and /api/v1/label/<name>/values reach the
// storage through vmstorage.VMSelectAPI (an exported variable of
// app/vmstorage), and this wrapper takes the tenant label out of their
// answers after the enforced filter selected the tenant's series. The
// values of the tenant label itself are none, as in Prometheus for a label
// no series has. Series come back with the label removed; they cannot
// collide, since every series of one search has the same tenant.
type hidingAPI struct {
	vmselectapi.API
}

// installHidingAPI wraps the storage's select API (once per vmstorage.Init).
func installHidingAPI() {
	if _, ok := vmstorage.VMSelectAPI.(hidingAPI); !ok && vmstorage.VMSelectAPI != nil {
		vmstorage.VMSelectAPI = hidingAPI{vmstorage.VMSelectAPI}
	}
}

func (h hidingAPI) SearchMetricNames(qt *querytracer.Tracer, sq *storage.SearchQuery, deadline uint64) ([]string, error) {
	names, err := h.API.SearchMetricNames(qt, sq, deadline)
	if err != nil {
		return nil, err
	}
	var mn storage.MetricName
	var buf []byte
	for i, s := range names {
		if err := mn.UnmarshalString(s); err != nil {
			return nil, fmt.Errorf("cannot unmarshal a series name: %w", err)
		}
		if !hasTag(&mn, tenants.MetricLabel) {
			continue
		}
		mn.RemoveTag(tenants.MetricLabel)
		buf = mn.Marshal(buf[:0])
		names[i] = string(buf)
	}
	return names, nil
}

func hasTag(mn *storage.MetricName, key string) bool {
	for i := range mn.Tags {
		if string(mn.Tags[i].Key) == key {
			return true
		}
	}
	return false
}

func (h hidingAPI) LabelNames(qt *querytracer.Tracer, sq *storage.SearchQuery, maxLabelNames int, deadline uint64) ([]string, error) {
	names, err := h.API.LabelNames(qt, sq, maxLabelNames, deadline)
	if err != nil {
		return nil, err
	}
	out := names[:0]
	for _, n := range names {
		if n != tenants.MetricLabel {
			out = append(out, n)
		}
	}
	return out, nil
}

func (h hidingAPI) LabelValues(qt *querytracer.Tracer, sq *storage.SearchQuery, labelName string, maxLabelValues int, deadline uint64) ([]string, error) {
	if labelName == tenants.MetricLabel {
		return nil, nil
	}
	return h.API.LabelValues(qt, sq, labelName, maxLabelValues, deadline)
}

// serveRawRange answers an instant query that is a bare range selector
// (x[5m]): VictoriaMetrics exports the raw samples of the selected series,
// nothing is evaluated above them, so the tenant label is removed from the
// answer.
func serveRawRange(w http.ResponseWriter, serve func(w http.ResponseWriter) error) error {
	rec := httptest.NewRecorder()
	if err := serve(rec); err != nil {
		return err
	}
	var resp struct {
		Status string `json:"status"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Values json.RawMessage   `json:"values"`
			} `json:"result"`
		} `json:"data"`
		Stats json.RawMessage `json:"stats,omitempty"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		return fmt.Errorf("cannot read the range selector's answer: %w", err)
	}
	if resp.Data.Result == nil {
		resp.Data.Result = resp.Data.Result[:0:0]
	}
	for i := range resp.Data.Result {
		delete(resp.Data.Result[i].Metric, tenants.MetricLabel)
	}
	b, err := json.Marshal(resp)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rec.Code)
	_, _ = w.Write(b)
	return nil
}
