package errorfanoutconnector

import (
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/scadaotel/scadaotel/internal/httpjson"
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

// history keeps the last N episodes per tenant in memory and, when a
// directory is configured, in a checksummed journal on disk (historyStore):
// every change appends one record; damage costs only the damaged records.
type history struct {
	mu    sync.Mutex
	max   int
	data  historyFile
	store *historyStore // nil: memory only

	// Group commit of journal writes: calls arriving while one writes join
	// the next write, so a storm of events costs one fsync per write, not
	// one per event, and no tenant's events wait behind another's fsyncs.
	gcMu   sync.Mutex
	gcNext *commitBatch // collecting the next write
	gcBusy bool         // a write is under way (its writer hands on to gcNext)
}

// commitBatch is one journal write of several calls' records.
type commitBatch struct {
	recs []EventRecord
	lead chan struct{} // a waiter receives it to become the writer
	done chan struct{}
	err  error
}

func newHistory(cfg HistoryConfig, logger *zap.Logger) *history {
	h := &history{max: cfg.MaxEpisodes, data: historyFile{Version: 1, Episodes: map[string][]*Episode{}}}
	if cfg.Directory != "" {
		h.store = newHistoryStore(cfg, logger)
	}
	return h
}

// load reads what the directory holds, recovering past damage; it never
// fails (see historyStore.load).
func (h *history) load() loadStats {
	if h.store == nil {
		return loadStats{}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.store.load(h)
}

// applyLocked adds an event to its episode, or updates the delivery state of
// an event already there (a "queued" mark never goes back to "pending").
func (h *history) applyLocked(er EventRecord) {
	ev := &er.Event
	list := h.data.Episodes[ev.Tenant]
	var ep *Episode
	for i := len(list) - 1; i >= 0; i-- {
		if list[i].AlertID == ev.AlertID {
			ep = list[i]
			break
		}
	}
	if ep != nil {
		found := false
		for i := range ep.Events {
			if ep.Events[i].State == ev.State {
				found = true
				if er.Delivery == DeliveryQueued {
					ep.Events[i].Delivery = DeliveryQueued
				}
			}
		}
		if found {
			return
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
	ep.Events = append(ep.Events, er)
}

// liveLocked is the number of events the history keeps.
func (h *history) liveLocked() int {
	n := 0
	for _, list := range h.data.Episodes {
		for _, ep := range list {
			n += len(ep.Events)
		}
	}
	return n
}

// snapshotLocked lists every event kept, tenants in name order, episodes
// and events oldest first: applying them in order rebuilds the history.
func (h *history) snapshotLocked() []EventRecord {
	names := make([]string, 0, len(h.data.Episodes))
	for t := range h.data.Episodes {
		names = append(names, t)
	}
	sort.Strings(names)
	var out []EventRecord
	for _, t := range names {
		for _, ep := range h.data.Episodes[t] {
			out = append(out, ep.Events...)
		}
	}
	return out
}

// record adds an event (pending) to its episode and saves it. On a save
// error the event is kept in memory and saved by a later write or save.
func (h *history) record(ev *Event) error {
	_, err := h.recordAll([]*Event{ev})
	return err
}

// delivered marks an event as queued and saves the mark.
func (h *history) delivered(ev *Event) error {
	_, err := h.deliveredAll([]*Event{ev})
	return err
}

// recordAll adds events (pending) and saves them in one journal write,
// shared with concurrent calls. wrote says whether this call did the write
// (so that a failed write is reported once, by its writer).
func (h *history) recordAll(evs []*Event) (wrote bool, err error) {
	return h.commit(evs, DeliveryPending)
}

// deliveredAll marks events as queued and saves the marks in one write.
func (h *history) deliveredAll(evs []*Event) (wrote bool, err error) {
	return h.commit(evs, DeliveryQueued)
}

func (h *history) commit(evs []*Event, delivery string) (wrote bool, err error) {
	recs := make([]EventRecord, len(evs))
	for i, ev := range evs {
		recs[i] = EventRecord{Event: *ev, Delivery: delivery}
	}
	if h.store == nil {
		h.mu.Lock()
		for _, er := range recs {
			h.applyLocked(er)
		}
		h.mu.Unlock()
		return true, nil
	}
	h.gcMu.Lock()
	b := h.gcNext
	if b == nil {
		b = &commitBatch{lead: make(chan struct{}, 1), done: make(chan struct{})}
		h.gcNext = b
	}
	b.recs = append(b.recs, recs...)
	if h.gcBusy {
		h.gcMu.Unlock()
		select {
		case <-b.done:
			return false, b.err
		case <-b.lead: // the previous writer finished: write b
		}
		h.gcMu.Lock()
	}
	h.gcBusy = true
	h.gcNext = nil // b is taken; later calls start a new batch
	h.gcMu.Unlock()

	// Encoded before taking h.mu: the API and other writers do not wait
	// for it. A batch of delivery marks only is not fsync'ed: the next
	// write's fsync covers it, and a mark lost in a crash only means the
	// event is sent again (consumers dedupe).
	frames, encErr := encodeRecords(b.recs)
	sync := false
	for _, er := range b.recs {
		sync = sync || er.Delivery == DeliveryPending
	}
	h.mu.Lock()
	for _, er := range b.recs {
		h.applyLocked(er)
	}
	if encErr != nil {
		b.err = fmt.Errorf("alert history: %w", encErr)
	} else {
		b.err = h.store.appendFrames(frames, len(b.recs), sync, h.liveLocked, h.snapshotLocked)
	}
	h.mu.Unlock()
	close(b.done)

	h.gcMu.Lock()
	if next := h.gcNext; next != nil {
		next.lead <- struct{}{} // buffered, sent once: one of its waiters writes it
	} else {
		h.gcBusy = false
	}
	h.gcMu.Unlock()
	return true, b.err
}

// unsaved reports whether memory holds changes the disk does not.
func (h *history) unsaved() bool {
	if h.store == nil {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.store.unsaved
}

// save writes the whole history again if a previous write failed.
func (h *history) save() error {
	if h.store == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.store.unsaved {
		return nil
	}
	return h.store.rewrite(h.snapshotLocked())
}

func (h *history) close() {
	if h.store == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.store.close()
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
			tenants.SetChallenge(w.Header(), code)
			httpjson.Write(w, code, map[string]string{"error": reason})
			return
		}
		if code, reason := tenants.CheckRole(r.Context(), tenants.RoleViewer); code != http.StatusOK {
			httpjson.Write(w, code, map[string]string{"error": reason})
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
		httpjson.Write(w, http.StatusOK, historyResponse{Tenant: tenant, Episodes: eps})
	})
	return mux
}
