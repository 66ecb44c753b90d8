package scadauiextension

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/scadaotel/scadaotel/internal/httpjson"
)

// The alarm views read and act through the alarm connector's operator API
// (alarms_endpoint) with the caller's own token, so the connector applies
// its tenant scoping (another tenant's alarm is 404 like a missing one)
// and records the actor of every action exactly as for any client.

// maxAlarmActionBody bounds an action's body (the connector takes 16 KiB).
const maxAlarmActionBody = 16 << 10

var alarmActions = map[string]bool{"ack": true, "shelve": true, "unshelve": true}

func (e *uiExtension) alarmsOff(w http.ResponseWriter) bool {
	if e.cfg.AlarmsEndpoint == "" {
		httpjson.Write(w, http.StatusNotFound, map[string]string{"error": "alarm views are off (alarms_endpoint is empty)"})
		return true
	}
	return false
}

// alarmRead forwards a tenant-scoped read (list, KPIs, journal) and passes
// its answer on only when it names the caller's tenant.
func (e *uiExtension) alarmRead(path string, params ...string) func(http.ResponseWriter, *http.Request, identity) {
	return func(w http.ResponseWriter, r *http.Request, id identity) {
		if e.alarmsOff(w) {
			return
		}
		q := url.Values{}
		for _, k := range params {
			if v := r.URL.Query().Get(k); v != "" {
				q.Set(k, v)
			}
		}
		code, body, err := e.upstream(r, id, e.cfg.AlarmsEndpoint, path, q)
		if err != nil {
			httpjson.Write(w, http.StatusBadGateway, map[string]string{"error": "alarm API: " + err.Error()})
			return
		}
		if code != http.StatusOK {
			httpjson.Write(w, http.StatusBadGateway, map[string]string{"error": fmt.Sprintf("alarm API: HTTP %d", code)})
			return
		}
		var who struct {
			Tenant string `json:"tenant"`
		}
		if err := json.Unmarshal(body, &who); err != nil {
			httpjson.Write(w, http.StatusBadGateway, map[string]string{"error": "alarm API: unreadable answer"})
			return
		}
		if who.Tenant != id.tenant {
			// Never show another tenant's alarms, whatever the upstream did.
			httpjson.Write(w, http.StatusBadGateway, map[string]string{"error": "alarm API: answer for another tenant refused"})
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	}
}

// alarmAction forwards acknowledge, shelve and unshelve. Cookie sessions
// are protected from cross-site requests like login (SameSite=Strict and
// the Origin / Sec-Fetch-Site check); the body must be JSON.
func (e *uiExtension) alarmAction(w http.ResponseWriter, r *http.Request, id identity) {
	if e.alarmsOff(w) {
		return
	}
	if !sameOrigin(r) {
		httpjson.Write(w, http.StatusForbidden, map[string]string{"error": "cross-origin alarm action refused"})
		return
	}
	action := r.PathValue("action")
	alarmID := r.PathValue("id")
	if !alarmActions[action] {
		httpjson.Write(w, http.StatusNotFound, map[string]string{"error": "unknown alarm action (ack, shelve, unshelve)"})
		return
	}
	if alarmID == "" || len(alarmID) > 512 || !utf8.ValidString(alarmID) || strings.ContainsAny(alarmID, "/\x00") {
		httpjson.Write(w, http.StatusNotFound, map[string]string{"error": "alarm not found"})
		return
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		httpjson.Write(w, http.StatusUnsupportedMediaType, map[string]string{"error": "send the action as JSON, e.g. {\"reason\": \"...\"}"})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxAlarmActionBody+1))
	if err != nil || len(body) > maxAlarmActionBody || !json.Valid(body) {
		httpjson.Write(w, http.StatusBadRequest, map[string]string{"error": "the body must be a JSON object of at most " + strconv.Itoa(maxAlarmActionBody) + " bytes"})
		return
	}
	path := "/api/v1/alarms/" + alarmID + "/" + action
	raw := "/api/v1/alarms/" + url.PathEscape(alarmID) + "/" + action
	code, answer, err := e.upstreamCall(r, id, http.MethodPost, e.cfg.AlarmsEndpoint, path, raw, nil, body)
	if err != nil {
		httpjson.Write(w, http.StatusBadGateway, map[string]string{"error": "alarm API: " + err.Error()})
		return
	}
	if !json.Valid(answer) {
		httpjson.Write(w, http.StatusBadGateway, map[string]string{"error": fmt.Sprintf("alarm API: HTTP %d, answer is not JSON", code)})
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(answer)
}
