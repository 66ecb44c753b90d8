package vmstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/VictoriaMetrics/VictoriaMetrics/app/vmselect/prometheus"
	"github.com/VictoriaMetrics/VictoriaMetrics/lib/httpserver"
	"github.com/VictoriaMetrics/metricsql"

	"github.com/scadaotel/scadaotel/tenants"
)

// callerParams are request parameters a caller may never set: they are how
// VictoriaMetrics adds enforced filters, and the tenant filter is ours.
var callerParams = []string{"extra_label", "extra_filters", "extra_filters[]"}

// ServeAPI serves the read-only Prometheus HTTP API for one authenticated
// tenant: /api/v1/query, query_range, series, labels, label/<name>/values,
// metadata, status/buildinfo (and the empty rules/alerts/query_exemplars
// Grafana probes). Every read runs with the enforced filter
// {scada_tenant="<tenant>"}; the query text is never edited. Callers that
// send extra_label or extra_filters get 400. Any other path is 404: admin,
// import, export, delete, snapshot and debug endpoints do not exist here.
func (s *Store) ServeAPI(w http.ResponseWriter, r *http.Request, tenant string) {
	startTime := time.Now()
	if !tenants.ValidID(tenant) {
		writeError(w, http.StatusUnauthorized, "unauthorized", "no authenticated tenant on the request")
		return
	}
	path := strings.ReplaceAll(r.URL.Path, "//", "/")
	path = strings.TrimPrefix(path, "/prometheus")
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "bad_data", "method "+r.Method+" not allowed; use GET or POST")
		return
	}
	switch path {
	case "/api/v1/status/buildinfo":
		writeJSON(w, `{"status":"success","data":{"version":"2.24.0","revision":"scadaotel","branch":"","buildUser":"","buildDate":"","goVersion":""}}`)
		return
	case "/api/v1/metadata":
		s.serveMetadata(w, r, tenant)
		return
	case "/api/v1/query_exemplars":
		// No exemplars are stored; the query is still checked, as
		// Prometheus does (400 bad_data for one that does not parse).
		if err := r.ParseForm(); err != nil {
			writeError(w, http.StatusBadRequest, "bad_data", "cannot parse request parameters: "+err.Error())
			return
		}
		q := r.Form.Get("query")
		if _, err := metricsql.Parse(q); err != nil {
			writeError(w, http.StatusBadRequest, "bad_data", err.Error())
			return
		}
		if bad := hideTenant(q).invalid; bad != nil && bad.code == http.StatusBadRequest {
			writeError(w, bad.code, bad.errType, bad.msg)
			return
		}
		writeJSON(w, `{"status":"success","data":[]}`)
		return
	case "/api/v1/rules":
		writeJSON(w, `{"status":"success","data":{"groups":[]}}`)
		return
	case "/api/v1/alerts":
		writeJSON(w, `{"status":"success","data":{"alerts":[]}}`)
		return
	}
	r2, err := scopedRequest(r, tenant)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_data", err.Error())
		return
	}
	var hq hiddenQuery
	query := r2.Form.Get("query")
	if path == "/api/v1/query" || path == "/api/v1/query_range" {
		hq = hideTenant(query)
		if bad := hq.invalid; bad != nil {
			writeError(w, bad.code, bad.errType, bad.msg)
			return
		}
		r2.Form.Set("query", hq.text)
		r2.URL.RawQuery = r2.Form.Encode()
	}
	switch {
	case path == "/api/v1/query" && hq.rawRange:
		err = serveRawRange(w, func(w http.ResponseWriter) error { return prometheus.QueryHandler(nil, startTime, w, r2) })
	case path == "/api/v1/query":
		err = prometheus.QueryHandler(nil, startTime, w, r2)
	case path == "/api/v1/query_range":
		err = prometheus.QueryRangeHandler(nil, startTime, w, r2)
	case path == "/api/v1/series":
		err = prometheus.SeriesHandler(nil, startTime, w, r2)
	case path == "/api/v1/labels":
		err = prometheus.LabelsHandler(nil, startTime, w, r2)
	case strings.HasPrefix(path, "/api/v1/label/") && strings.HasSuffix(path, "/values"):
		name := strings.TrimSuffix(strings.TrimPrefix(path, "/api/v1/label/"), "/values")
		if name == "" || strings.Contains(name, "/") {
			writeError(w, http.StatusNotFound, "not_found", "unknown path")
			return
		}
		err = prometheus.LabelValuesHandler(nil, startTime, name, w, r2)
	default:
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("path %q is not served by the scadaotel query API", path))
		return
	}
	if err != nil {
		sendError(w, err, query, hq)
	}
}

// sendError is httpserver.SendPrometheusError with a message that names
// only what the caller wrote: not the rewritten query, not the enforced
// filter.
func sendError(w http.ResponseWriter, err error, query string, hq hiddenQuery) {
	code := http.StatusUnprocessableEntity
	var esc *httpserver.ErrorWithStatusCode
	if errors.As(err, &esc) {
		code = esc.StatusCode
	}
	msg := err.Error()
	var ure *httpserver.UserReadableError
	if errors.As(err, &ure) {
		msg = ure.Error()
	}
	writeError(w, code, errorType(code), cleanError(msg, query, hq))
}

// errorType is Prometheus' errorType for a status code (VictoriaMetrics
// writes the code itself there).
func errorType(code int) string {
	switch code {
	case http.StatusBadRequest:
		return "bad_data"
	case http.StatusUnprocessableEntity:
		return "execution"
	case http.StatusServiceUnavailable:
		return "unavailable"
	case http.StatusGatewayTimeout:
		return "timeout"
	case http.StatusNotFound:
		return "not_found"
	}
	return "internal"
}

// scopedRequest returns a GET copy of r whose parameters are r's (URL query
// and POST form, as Prometheus accepts both) plus extra_label for tenant.
func scopedRequest(r *http.Request, tenant string) (*http.Request, error) {
	if err := r.ParseForm(); err != nil {
		return nil, fmt.Errorf("cannot parse request parameters: %w", err)
	}
	form := url.Values{}
	for k, v := range r.Form {
		for _, p := range callerParams {
			if k == p {
				return nil, fmt.Errorf("parameter %q is not allowed: the tenant scope comes from authentication", k)
			}
		}
		form[k] = append([]string(nil), v...)
	}
	form.Set("extra_label", tenants.MetricLabel+"="+tenant)
	r2 := r.Clone(r.Context())
	r2.Method = http.MethodGet
	r2.Body = http.NoBody
	r2.ContentLength = 0
	r2.Header.Del("Content-Type")
	u := *r.URL
	u.RawQuery = form.Encode()
	r2.URL = &u
	r2.Form = form
	r2.PostForm = url.Values{}
	return r2, nil
}

func writeJSON(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(body))
}

func writeError(w http.ResponseWriter, code int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	b, _ := json.Marshal(struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
	}{"error", typ, msg})
	_, _ = w.Write(b)
}
