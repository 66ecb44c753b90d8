package scadauiextension

import (
	"cmp"
	"fmt"
	"math"
	"net/http"
	"slices"
	"time"

	"github.com/scadaotel/scadaotel/internal/httpjson"
	"github.com/scadaotel/scadaotel/internal/vmstore"
)

// serviceView is one service's error ratio over time and its threshold
// (both written by the errorfanout connector into the metrics store).
type serviceView struct {
	Service   string     `json:"service"`
	Ratio     []*float64 `json:"ratio"`
	Threshold []*float64 `json:"threshold"`
	Last      *float64   `json:"last"`
	LastLimit *float64   `json:"last_threshold"`
	Above     bool       `json:"above"`
}

type servicesDetail struct {
	StartMs    int64         `json:"start_ms"`
	EndMs      int64         `json:"end_ms"`
	StepMs     int64         `json:"step_ms"`
	Timestamps []int64       `json:"timestamps"`
	Services   []serviceView `json:"services"`
}

func (e *uiExtension) services(w http.ResponseWriter, r *http.Request, id identity) {
	st := vmstore.Current()
	if st == nil {
		httpjson.Write(w, http.StatusServiceUnavailable, map[string]string{"error": errStoreNotOpened})
		return
	}
	win, err := parseWindow(r.URL.Query().Get("range"), e.now())
	if err != nil {
		httpjson.Write(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	step, stepMs, startMs, endMs := win.step, win.stepMs, win.startMs, win.endMs
	n := len(win.timestamps)
	out := servicesDetail{StartMs: startMs, EndMs: endMs, StepMs: stepMs, Timestamps: win.timestamps, Services: []serviceView{}}
	// The OTel-to-Prometheus translation may add a _ratio suffix (unit "1").
	secs := int64(step / time.Second)
	queries := []string{
		fmt.Sprintf(`max_over_time({__name__=~"scada_service_error_ratio(_ratio)?"}[%ds])`, secs),
		fmt.Sprintf(`last_over_time({__name__=~"scada_service_error_threshold(_ratio)?"}[%ds])`, secs),
	}
	byService := map[string]*serviceView{}
	for qi, qs := range queries {
		res, err := st.QueryRange(id.tenant, qs, time.UnixMilli(startMs), time.UnixMilli(endMs), step)
		if err != nil {
			httpjson.Write(w, http.StatusBadGateway, map[string]string{"error": "metrics query failed: " + err.Error()})
			return
		}
		for _, s := range res {
			name := s.Labels["service"]
			sv := byService[name]
			if sv == nil {
				sv = &serviceView{Service: name, Ratio: make([]*float64, n), Threshold: make([]*float64, n)}
				byService[name] = sv
			}
			dst := sv.Ratio
			if qi == 1 {
				dst = sv.Threshold
			}
			for j, ts := range s.Timestamps {
				i := int(math.Round(float64(ts-startMs) / float64(stepMs)))
				if i >= 0 && i < n && !math.IsNaN(s.Values[j]) {
					v := s.Values[j]
					dst[i] = &v
				}
			}
		}
	}
	for _, sv := range byService {
		for i := n - 1; i >= 0 && (sv.Last == nil || sv.LastLimit == nil); i-- {
			if sv.Last == nil && sv.Ratio[i] != nil {
				sv.Last = sv.Ratio[i]
			}
			if sv.LastLimit == nil && sv.Threshold[i] != nil {
				sv.LastLimit = sv.Threshold[i]
			}
		}
		sv.Above = sv.Last != nil && sv.LastLimit != nil && *sv.Last > *sv.LastLimit
		out.Services = append(out.Services, *sv)
	}
	// Services above their threshold first, then by name.
	slices.SortFunc(out.Services, func(a, b serviceView) int {
		if a.Above != b.Above {
			if a.Above {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.Service, b.Service)
	})
	httpjson.Write(w, http.StatusOK, out)
}
