package alarmconnector

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/client"
	"go.uber.org/zap"

	"github.com/scadaotel/scadaotel/internal/alarm"
	"github.com/scadaotel/scadaotel/internal/audit"
	"github.com/scadaotel/scadaotel/internal/httpjson"
	"github.com/scadaotel/scadaotel/tenants"
)

// maxBody bounds an action's request body.
const maxBody = 16 << 10

// maxReason bounds an action's reason (bytes).
const maxReason = 1024

type listResponse struct {
	Tenant string `json:"tenant"`
	Alarms []View `json:"alarms"`
	// Total is how many alarms match (active=true: not normal); Alarms
	// is the page from Offset, at most Limit of them.
	Total  int `json:"total"`
	Offset int `json:"offset"`
	Limit  int `json:"limit"`
}

// Paging of the alarm list: a flood of thousands is shown a page at a
// time (the UI's alarm bar asks for the first 50).
const (
	defaultListLimit = 1000
	maxListLimit     = 10000
)

// intParam reads an optional integer query parameter within lo..hi.
func intParam(r *http.Request, name string, def, lo, hi int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s: want %d..%d", name, lo, hi)
	}
	return n, nil
}

type journalResponse struct {
	Tenant  string    `json:"tenant"`
	Actions []*Action `json:"actions"`
}

type actionRequest struct {
	Reason   string `json:"reason"`
	Duration string `json:"duration"`
}

type actionResponse struct {
	Alarm  View    `json:"alarm"`
	Record *Record `json:"record"`
}

func apiError(w http.ResponseWriter, code int, msg string) {
	httpjson.Write(w, code, map[string]string{"error": msg})
}

// actor names who acts with the request's bearer token, the way the audit
// trail names it (tenants.TokenActor): the one place to change when tokens
// get names.
func actor(r *http.Request) string {
	// A named token's name, as tenantauth put it on the request.
	if info := client.FromContext(r.Context()); info.Auth != nil {
		if n, _ := info.Auth.GetAttribute(tenants.TokenNameAttribute).(string); n != "" {
			return n
		}
	}
	h := r.Header.Get("Authorization")
	if tok, ok := strings.CutPrefix(h, "Bearer "); ok && tok != "" {
		return tenants.TokenActor(tok)
	}
	return "-"
}

// tenantOf is the request's authenticated tenant if its token has role
// (reads need viewer, actions operator), or it answers 401/403.
func tenantOf(w http.ResponseWriter, r *http.Request, role tenants.Role) (string, bool) {
	tenant := tenants.FromContext(r.Context())
	if tenant == "" {
		code, reason := tenants.NoTenantStatus(r.Context())
		tenants.SetChallenge(w.Header(), code)
		apiError(w, code, reason)
		return "", false
	}
	if code, reason := tenants.CheckRole(r.Context(), role); code != http.StatusOK {
		apiError(w, code, reason)
		return "", false
	}
	return tenant, true
}

func (c *alarmConnector) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/alarms", func(w http.ResponseWriter, r *http.Request) {
		tenant, ok := tenantOf(w, r, tenants.RoleViewer)
		if !ok {
			return
		}
		onlyActive := r.URL.Query().Get("active") == "true"
		limit, err := intParam(r, "limit", defaultListLimit, 1, maxListLimit)
		if err != nil {
			apiError(w, http.StatusBadRequest, err.Error())
			return
		}
		offset, err := intParam(r, "offset", 0, 0, math.MaxInt32)
		if err != nil {
			apiError(w, http.StatusBadRequest, err.Error())
			return
		}
		c.mu.Lock()
		views, total := c.eng.list(tenant, onlyActive, r.URL.Query().Get("station"), offset, limit)
		c.mu.Unlock()
		httpjson.Write(w, http.StatusOK, listResponse{Tenant: tenant, Alarms: views, Total: total, Offset: offset, Limit: limit})
	})
	mux.HandleFunc("GET /api/v1/alarms/{id}", func(w http.ResponseWriter, r *http.Request) {
		tenant, ok := tenantOf(w, r, tenants.RoleViewer)
		if !ok {
			return
		}
		c.mu.Lock()
		in := c.eng.find(tenant, r.PathValue("id"))
		var v View
		if in != nil {
			v = c.eng.view(in)
		}
		c.mu.Unlock()
		if in == nil {
			apiError(w, http.StatusNotFound, "no such alarm")
			return
		}
		httpjson.Write(w, http.StatusOK, v)
	})
	mux.HandleFunc("GET /api/v1/alarm-journal", func(w http.ResponseWriter, r *http.Request) {
		tenant, ok := tenantOf(w, r, tenants.RoleViewer)
		if !ok {
			return
		}
		limit, err := intParam(r, "limit", 100, 1, 10000)
		if err != nil {
			apiError(w, http.StatusBadRequest, err.Error())
			return
		}
		c.mu.Lock()
		acts := c.journal[tenant]
		if len(acts) > limit {
			acts = acts[len(acts)-limit:]
		}
		out := make([]*Action, len(acts))
		// Newest first.
		for i, a := range acts {
			out[len(acts)-1-i] = a
		}
		c.mu.Unlock()
		httpjson.Write(w, http.StatusOK, journalResponse{Tenant: tenant, Actions: out})
	})
	mux.HandleFunc("GET /api/v1/alarm-kpis", func(w http.ResponseWriter, r *http.Request) {
		tenant, ok := tenantOf(w, r, tenants.RoleViewer)
		if !ok {
			return
		}
		c.mu.Lock()
		k := c.eng.kpis(tenant, time.Now())
		c.mu.Unlock()
		httpjson.Write(w, http.StatusOK, k)
	})
	mux.HandleFunc("POST /api/v1/alarms/{id}/ack", func(w http.ResponseWriter, r *http.Request) { c.act(w, r, "ack") })
	mux.HandleFunc("POST /api/v1/alarms/{id}/shelve", func(w http.ResponseWriter, r *http.Request) { c.act(w, r, "shelve") })
	mux.HandleFunc("POST /api/v1/alarms/{id}/unshelve", func(w http.ResponseWriter, r *http.Request) { c.act(w, r, "unshelve") })
	return mux
}

// act runs one operator action: the change, its record and the journal
// entry are on disk (fsync) before the answer; the audit trail gets it
// too.
func (c *alarmConnector) act(w http.ResponseWriter, r *http.Request, action string) {
	tenant, ok := tenantOf(w, r, tenants.RoleOperator)
	if !ok {
		return
	}
	var req actionRequest
	body := http.MaxBytesReader(w, r.Body, maxBody)
	if err := json.NewDecoder(body).Decode(&req); err != nil && !errors.Is(err, io.EOF) {
		apiError(w, http.StatusBadRequest, "body: want a JSON object {\"reason\": ..., \"duration\": ...}")
		return
	}
	if len(req.Reason) > maxReason || !utf8.ValidString(req.Reason) {
		apiError(w, http.StatusBadRequest, fmt.Sprintf("reason: at most %d bytes of UTF-8", maxReason))
		return
	}
	who := actor(r)
	id := r.PathValue("id")
	now := time.Now()

	c.mu.Lock()
	in := c.eng.find(tenant, id)
	if in == nil {
		c.mu.Unlock()
		c.tel.action(tenant, action, "not_found")
		apiError(w, http.StatusNotFound, "no such alarm")
		return
	}
	if full := c.outboxFullFor(tenant); full != nil {
		c.mu.Unlock()
		c.tel.action(tenant, action, "failed")
		w.Header().Set("Retry-After", "1")
		apiError(w, http.StatusServiceUnavailable, full.Error())
		return
	}
	var shelveUntil time.Time
	if action == "shelve" {
		d, err := time.ParseDuration(req.Duration)
		maxShelve := c.eng.tenants[tenant].defs.MaxShelve
		switch {
		case err != nil || d <= 0:
			c.mu.Unlock()
			apiError(w, http.StatusBadRequest, "duration: want a positive duration such as 30m or 8h")
			return
		case d > maxShelve:
			c.mu.Unlock()
			apiError(w, http.StatusBadRequest, fmt.Sprintf("duration: at most %s (max_shelve)", maxShelve))
			return
		case strings.TrimSpace(req.Reason) == "":
			c.mu.Unlock()
			apiError(w, http.StatusBadRequest, "reason: required to shelve an alarm")
			return
		}
		shelveUntil = now.Add(d)
	}
	saved := *in.a
	var ch alarm.Change
	var err error
	switch action {
	case "ack":
		ch, err = in.a.Acknowledge(now)
	case "shelve":
		ch, err = in.a.Shelve(now, shelveUntil, req.Reason)
	case "unshelve":
		ch, err = in.a.Unshelve(now)
	}
	if err != nil {
		c.mu.Unlock()
		c.tel.action(tenant, action, "conflict")
		apiError(w, http.StatusConflict, err.Error())
		return
	}
	var o out
	c.eng.emit(in, []alarm.Change{ch}, now, who, req.Reason, &o)
	c.eng.track(in)
	rec := o.records[0]
	act := &Action{Time: now.UTC(), Tenant: tenant, Actor: who, Source: r.RemoteAddr, Action: action, AlarmID: id,
		Reason: req.Reason, ShelvedUntil: rec.ShelvedUntil, FromState: string(ch.From), ToState: string(ch.To), RecordID: rec.RecordID}
	c.journal[tenant] = append(c.journal[tenant], act)
	if n := len(c.journal[tenant]) - c.cfg.State.JournalPerTenant; n > 0 {
		c.journal[tenant] = c.journal[tenant][n:]
	}
	if err := c.commitLocked(&o, stateEntry{Action: act}); err != nil && c.store != nil {
		// Not on disk: the action is undone and refused, retryably.
		*in.a = saved
		c.eng.track(in)
		c.journal[tenant] = c.journal[tenant][:len(c.journal[tenant])-1]
		c.unqueue(rec)
		c.mu.Unlock()
		c.tel.action(tenant, action, "failed")
		apiError(w, http.StatusServiceUnavailable, "the action could not be saved; try again")
		return
	}
	v := c.eng.view(in)
	c.mu.Unlock()
	c.tel.action(tenant, action, "success")
	if c.audit != nil {
		detail := req.Reason
		if action == "shelve" {
			detail = "until " + shelveUntil.UTC().Format(time.RFC3339) + ": " + req.Reason
		}
		if _, err := c.audit.Append(audit.Record{Actor: who, Tenant: tenant, Source: r.RemoteAddr, Action: "alarm_" + action,
			Object: id, Outcome: audit.Success, Detail: detail}); err != nil {
			c.logger.Error("Cannot write the audit trail", zap.String("action", "alarm_"+action), zap.Error(err))
		}
	}
	httpjson.Write(w, http.StatusOK, actionResponse{Alarm: v, Record: rec})
}

// unqueue takes a record back out of the outbox (an action that could not
// be saved), unless the flusher already took it.
func (c *alarmConnector) unqueue(rec *Record) {
	c.outbox.Remove(rec.Tenant, func(r *Record) bool { return r == rec })
}
