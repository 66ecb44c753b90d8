package errorfanoutconnector

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/scadaotel/scadaotel/tenants"
)

// Delivery states of an alert event.
const (
	// DeliveryPending: not yet accepted by the alert logs pipeline.
	DeliveryPending = "pending"
	// DeliveryQueued: accepted by the alert logs pipeline (with a persistent
	// sending queue: on disk, on its way to Kafka).
	DeliveryQueued = "queued"
)

// EventRecord is one event of an episode with its delivery state.
type EventRecord struct {
	Event
	Delivery string `json:"delivery"`
}

// Episode is one firing episode of a key (firing, then resolved).
type Episode struct {
	AlertID    string        `json:"alert_id"`
	Tenant     string        `json:"tenant"`
	Service    string        `json:"service"`
	Station    string        `json:"station,omitempty"`
	State      string        `json:"state"`
	StartedAt  time.Time     `json:"started_at"`
	ResolvedAt *time.Time    `json:"resolved_at"`
	Threshold  float64       `json:"threshold"`
	PeakRate   float64       `json:"peak_error_rate"`
	Events     []EventRecord `json:"events"`
}

type historyFile struct {
	Version  int                   `json:"version"`
	Episodes map[string][]*Episode `json:"episodes"` // tenant → oldest first
}

// history keeps the last N episodes per tenant, in memory and, when a
// directory is configured, in <directory>/alerts.json (written atomically on
// every change; changes are rare: one per alert state change or delivery).
type history struct {
	mu   sync.Mutex
	path string
	max  int
	data historyFile
}

func newHistory(cfg HistoryConfig) *history {
	h := &history{max: cfg.MaxEpisodes, data: historyFile{Version: 1, Episodes: map[string][]*Episode{}}}
	if cfg.Directory != "" {
		h.path = filepath.Join(cfg.Directory, "alerts.json")
	}
	return h
}

// load reads the file, if any.
func (h *history) load() error {
	if h.path == "" {
		return nil
	}
	b, err := os.ReadFile(h.path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot read alert history %q: %w", h.path, err)
	}
	var f historyFile
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("cannot parse alert history %q: %w", h.path, err)
	}
	if f.Episodes == nil {
		f.Episodes = map[string][]*Episode{}
	}
	h.mu.Lock()
	h.data = f
	h.mu.Unlock()
	return nil
}

// saveLocked writes the history atomically (temp file, fsync, rename).
func (h *history) saveLocked() error {
	if h.path == "" {
		return nil
	}
	b, err := json.Marshal(&h.data)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(h.path), 0o750); err != nil {
		return fmt.Errorf("cannot create alert history directory: %w", err)
	}
	tmp := h.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("cannot write alert history %q: %w", tmp, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("cannot write alert history %q: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("cannot sync alert history %q: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, h.path)
}

// record adds an event (pending) to its episode and saves.
func (h *history) record(ev *Event) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	list := h.data.Episodes[ev.Tenant]
	var ep *Episode
	for i := len(list) - 1; i >= 0; i-- {
		if list[i].AlertID == ev.AlertID {
			ep = list[i]
			break
		}
	}
	if ep == nil {
		ep = &Episode{AlertID: ev.AlertID, Tenant: ev.Tenant, Service: ev.Service, StartedAt: ev.StartedAt, Threshold: ev.Threshold}
		list = append(list, ep)
		if len(list) > h.max {
			list = append(list[:0:0], list[len(list)-h.max:]...)
		}
		h.data.Episodes[ev.Tenant] = list
	}
	ep.State = ev.State
	if ev.Station != "" {
		ep.Station = ev.Station
	}
	if ev.ErrorRate > ep.PeakRate {
		ep.PeakRate = ev.ErrorRate
	}
	if ev.State == StateResolved {
		t := ev.ResolvedAt
		ep.ResolvedAt = &t
	}
	ep.Events = append(ep.Events, EventRecord{Event: *ev, Delivery: DeliveryPending})
	return h.saveLocked()
}

// delivered marks an event as queued and saves.
func (h *history) delivered(ev *Event) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ep := range h.data.Episodes[ev.Tenant] {
		if ep.AlertID != ev.AlertID {
			continue
		}
		for i := range ep.Events {
			if ep.Events[i].State == ev.State {
				ep.Events[i].Delivery = DeliveryQueued
			}
		}
	}
	return h.saveLocked()
}

// pending returns the undelivered events (in order of their episodes) and
// the events of episodes still firing, for restore after a restart.
func (h *history) pending() (pending []*Event, firing []Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, list := range h.data.Episodes {
		for _, ep := range list {
			for i := range ep.Events {
				if ep.Events[i].Delivery == DeliveryPending {
					ev := ep.Events[i].Event
					pending = append(pending, &ev)
				}
			}
			if ep.State == StateFiring && len(ep.Events) > 0 {
				firing = append(firing, ep.Events[0].Event)
			}
		}
	}
	return pending, firing
}

// forTenant returns a copy of a tenant's episodes, newest first.
func (h *history) forTenant(tenant string) []Episode {
	h.mu.Lock()
	defer h.mu.Unlock()
	list := h.data.Episodes[tenant]
	out := make([]Episode, 0, len(list))
	for i := len(list) - 1; i >= 0; i-- {
		ep := *list[i]
		ep.Events = append([]EventRecord(nil), ep.Events...)
		out = append(out, ep)
	}
	return out
}

// historyResponse is the body of GET /api/v1/alerts.
type historyResponse struct {
	Tenant   string    `json:"tenant"`
	Episodes []Episode `json:"episodes"`
}

// handler serves GET /api/v1/alerts[?service=NAME] for the authenticated
// tenant only (tenants.FromContext); no tenant → 401. The tenant is never
// taken from a parameter or header.
func (h *history) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/alerts", func(w http.ResponseWriter, r *http.Request) {
		tenant := tenants.FromContext(r.Context())
		if tenant == "" {
			code, reason := tenants.NoTenantStatus(r.Context())
			writeJSON(w, code, map[string]string{"error": reason})
			return
		}
		eps := h.forTenant(tenant)
		if svc := r.URL.Query().Get("service"); svc != "" {
			kept := eps[:0]
			for _, ep := range eps {
				if ep.Service == svc {
					kept = append(kept, ep)
				}
			}
			eps = kept
		}
		writeJSON(w, http.StatusOK, historyResponse{Tenant: tenant, Episodes: eps})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
