package scadauiextension

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/scadaotel/scadaotel/internal/httpjson"
)

// maxUpstreamBody bounds what is read from an upstream API per call.
const maxUpstreamBody = 32 << 20

type episode struct {
	AlertID       string            `json:"alert_id"`
	Service       string            `json:"service"`
	Station       string            `json:"station,omitempty"`
	State         string            `json:"state"`
	StartedAt     string            `json:"started_at"`
	ResolvedAt    string            `json:"resolved_at,omitempty"`
	Threshold     float64           `json:"threshold"`
	PeakErrorRate float64           `json:"peak_error_rate"`
	Events        []json.RawMessage `json:"events"`
}

type alertHistory struct {
	Tenant   string    `json:"tenant"`
	Episodes []episode `json:"episodes"`
}

// upstream calls base+path with the caller's own bearer token, so the
// upstream API applies its tenant scoping exactly as for any client.
func (e *uiExtension) upstream(r *http.Request, id identity, base, path string, q url.Values) (int, []byte, error) {
	return e.upstreamCall(r, id, http.MethodGet, base, path, "", q, nil)
}

// upstreamCall is upstream with a method and a JSON body; rawPath, when
// set, is path with its segments escaped (an alarm id is one segment).
func (e *uiExtension) upstreamCall(r *http.Request, id identity, method, base, path, rawPath string, q url.Values, body []byte) (int, []byte, error) {
	u, err := url.Parse(base)
	if err != nil {
		return 0, nil, err
	}
	escapedPrefix := strings.TrimSuffix(u.EscapedPath(), "/")
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawPath = ""
	if rawPath != "" {
		u.RawPath = escapedPrefix + rawPath
	}
	u.RawQuery = q.Encode()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(r.Context(), method, u.String(), rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+id.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("upstream unavailable")
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxUpstreamBody))
	if err != nil {
		return 0, nil, fmt.Errorf("upstream answer unreadable")
	}
	return resp.StatusCode, answer, nil
}

func (e *uiExtension) fetchAlerts(r *http.Request, id identity, service string) (*alertHistory, error) {
	q := url.Values{}
	if service != "" {
		q.Set("service", service)
	}
	code, body, err := e.upstream(r, id, e.cfg.AlertsEndpoint, "/api/v1/alerts", q)
	if err != nil {
		return nil, fmt.Errorf("alert history: %w", err)
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("alert history: HTTP %d", code)
	}
	var h alertHistory
	if err := json.Unmarshal(body, &h); err != nil {
		return nil, fmt.Errorf("alert history: unreadable answer")
	}
	if h.Tenant != id.tenant {
		// Never show another tenant's history, whatever the upstream did.
		return nil, fmt.Errorf("alert history: answer for another tenant refused")
	}
	if h.Episodes == nil {
		h.Episodes = []episode{}
	}
	return &h, nil
}

func (e *uiExtension) alerts(w http.ResponseWriter, r *http.Request, id identity) {
	if e.cfg.AlertsEndpoint == "" {
		httpjson.Write(w, http.StatusNotFound, map[string]string{"error": "alerts view is off (alerts_endpoint is empty)"})
		return
	}
	h, err := e.fetchAlerts(r, id, r.URL.Query().Get("service"))
	if err != nil {
		httpjson.Write(w, http.StatusBadGateway, map[string]string{"error": err.Error()})
		return
	}
	httpjson.Write(w, http.StatusOK, h)
}

var (
	traceIDPattern = regexp.MustCompile(`^[0-9a-fA-F]{1,32}$`)
	// traceParams are the Jaeger search parameters passed on.
	traceParams = []string{"service", "operation", "tags", "start", "end", "minDuration", "maxDuration", "limit", "lookback"}
)

// traces forwards /ui/api/traces/services, /ui/api/traces/search and
// /ui/api/traces/trace/{id} to the tenant_trace_query extension.
func (e *uiExtension) traces(w http.ResponseWriter, r *http.Request, id identity) {
	if e.cfg.TraceQueryEndpoint == "" {
		httpjson.Write(w, http.StatusNotFound, map[string]string{"error": "traces view is off (trace_query_endpoint is empty)"})
		return
	}
	rest := strings.TrimPrefix(r.URL.Path, "/ui/api/traces/")
	q := url.Values{}
	var path string
	switch {
	case rest == "services":
		path = "/api/services"
	case rest == "search":
		path = "/api/traces"
		in := r.URL.Query()
		for _, k := range traceParams {
			if v := in.Get(k); v != "" {
				q.Set(k, v)
			}
		}
	case strings.HasPrefix(rest, "trace/") && traceIDPattern.MatchString(strings.TrimPrefix(rest, "trace/")):
		path = "/api/traces/" + strings.TrimPrefix(rest, "trace/")
	default:
		httpjson.Write(w, http.StatusNotFound, map[string]string{"error": "unknown traces path"})
		return
	}
	code, body, err := e.upstream(r, id, e.cfg.TraceQueryEndpoint, path, q)
	if err != nil {
		httpjson.Write(w, http.StatusBadGateway, map[string]string{"error": "trace query: " + err.Error()})
		return
	}
	if !json.Valid(body) {
		httpjson.Write(w, http.StatusBadGateway, map[string]string{"error": fmt.Sprintf("trace query: HTTP %d, answer is not JSON", code)})
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}
