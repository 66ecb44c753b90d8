package errorfanoutconnector

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/scadaotel/scadaotel/internal/recordio"
)

func histEvent(alert int, tenant, service, state string) *Event {
	start := time.Date(2026, 11, 25, 12, 0, alert, 0, time.UTC)
	ev := &Event{AlertID: fmt.Sprintf("%032x", alert), Tenant: tenant, Service: service, State: state,
		ErrorRate: 0.2, Threshold: 0.05, WindowS: 30, Spans: 100, Errors: 20, StartedAt: start, TraceIDs: []string{"00"}}
	if state == StateResolved {
		ev.ResolvedAt = start.Add(time.Minute)
	}
	return ev
}

// The journal the damage tests start from: a header, then five events in
// this order (one delivery mark among them).
var journalEvents = []*Event{
	histEvent(1, "t1", "svc-a", StateFiring),
	histEvent(2, "t1", "svc-b", StateFiring),
	histEvent(1, "t1", "svc-a", StateResolved),
	histEvent(3, "t2", "svc-c", StateFiring),
	histEvent(2, "t1", "svc-b", StateResolved),
}

func key(ev *Event) string { return fmt.Sprintf("%s/%s/%s", ev.Tenant, ev.AlertID[30:], ev.State) }

func writeJournal(t *testing.T, dir string) (b []byte, frames []int64) {
	t.Helper()
	h := newHistory(HistoryConfig{Directory: dir, MaxEpisodes: 100}, zap.NewNop())
	h.load()
	for _, ev := range journalEvents {
		require.NoError(t, h.record(ev))
	}
	require.NoError(t, h.delivered(journalEvents[0])) // a sixth record: a delivery mark
	h.close()
	b, err := os.ReadFile(filepath.Join(dir, historyLogName))
	require.NoError(t, err)
	recs, dmg := recordio.ScanAll(b)
	require.Empty(t, dmg)
	require.Len(t, recs, 7, "header, five events, one mark")
	for _, r := range recs {
		frames = append(frames, r.Offset)
	}
	return b, append(frames, int64(len(b)))
}

// loadDamaged loads dir into a fresh history and returns the surviving
// events (sorted keys), the stats and the error logs.
func loadDamaged(t *testing.T, dir string) ([]string, *history, loadStats, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zap.ErrorLevel)
	h := newHistory(HistoryConfig{Directory: dir, MaxEpisodes: 100}, zap.New(core))
	st := h.load()
	var got []string
	h.mu.Lock()
	for _, er := range h.snapshotLocked() {
		got = append(got, key(&er.Event))
	}
	h.mu.Unlock()
	sort.Strings(got)
	t.Cleanup(h.close)
	return got, h, st, logs
}

func keys(evs ...*Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, key(ev))
	}
	sort.Strings(out)
	return out
}

func asideFiles(t *testing.T, dir, what string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*."+what+"-*"))
	require.NoError(t, err)
	return m
}

func TestHistoryRecoversPastDamage(t *testing.T) {
	e := journalEvents
	for _, tc := range []struct {
		name   string
		damage func(b []byte, f []int64) []byte
		want   []string
		ranges int
	}{
		{"header", func(b []byte, f []int64) []byte { b[f[0]+recordio.HeaderSize+3] ^= 1; return b }, keys(e...), 1},
		{"middle record", func(b []byte, f []int64) []byte { b[f[3]+recordio.HeaderSize+10] ^= 1; return b },
			keys(e[0], e[1], e[3], e[4]), 1},
		{"middle record length", func(b []byte, f []int64) []byte { b[f[3]+6] = 0xff; return b },
			keys(e[0], e[1], e[3], e[4]), 1},
		{"last record", func(b []byte, f []int64) []byte { b[f[6]-5] ^= 1; return b }, keys(e[:4]...), 1},
		// The delivery mark of e[0] carries the whole event: it restores it.
		{"two records", func(b []byte, f []int64) []byte { b[f[1]+1] = 0; b[f[4]+recordio.HeaderSize] = 'x'; return b },
			keys(e[0], e[1], e[2], e[4]), 2},
		{"truncated", func(b []byte, f []int64) []byte { return b[:f[4]+recordio.HeaderSize+7] }, keys(e[:3]...), 1},
		{"garbage inserted", func(b []byte, f []int64) []byte {
			return append(append(append([]byte(nil), b[:f[2]]...), "\x00\x00garbage\xff\xfeSR"...), b[f[2]:]...)
		}, keys(e...), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			b, frames := writeJournal(t, dir)
			orig := append([]byte(nil), b...)
			damaged := tc.damage(b, frames)
			path := filepath.Join(dir, historyLogName)
			require.NoError(t, os.WriteFile(path, damaged, 0o640))

			got, h, st, logs := loadDamaged(t, dir)
			assert.Equal(t, tc.want, got)
			assert.EqualValues(t, tc.ranges, st.damagedRecords)
			assert.Positive(t, st.damagedBytes)
			// Error logs name the file and each damaged byte range.
			ranges := logs.FilterMessageSnippet("byte range").All()
			require.Len(t, ranges, tc.ranges)
			for _, l := range ranges {
				assert.Equal(t, path, l.ContextMap()["file"])
				assert.Contains(t, l.ContextMap(), "from_byte")
				assert.Contains(t, l.ContextMap(), "to_byte")
			}
			// The damaged file is kept aside, byte for byte; a clean one replaces it.
			aside := asideFiles(t, dir, "damaged")
			require.Len(t, aside, 1)
			kept, err := os.ReadFile(aside[0])
			require.NoError(t, err)
			assert.Equal(t, damaged, kept)
			assert.NotEqual(t, orig, kept)
			assert.False(t, h.unsaved())
			again, _, st2, _ := loadDamaged(t, dir)
			assert.Equal(t, tc.want, again, "the rewritten file holds what was recovered")
			assert.Zero(t, st2.damagedRecords)
		})
	}
}

// Delivery marks survive: the first event was marked queued after it was
// recorded, the others stay pending (and are sent again after a restart).
func TestHistoryJournalKeepsDeliveryMarks(t *testing.T) {
	dir := t.TempDir()
	writeJournal(t, dir)
	_, h, _, _ := loadDamaged(t, dir)
	eps := h.forTenant("t1")
	require.Len(t, eps, 2)
	assert.Equal(t, DeliveryQueued, eps[1].Events[0].Delivery) // alert 1 firing
	assert.Equal(t, DeliveryPending, eps[1].Events[1].Delivery)
	pending, firing := h.pending()
	assert.Len(t, pending, 4)
	require.Len(t, firing, 1, "only t2/svc-c is still firing")
	assert.Equal(t, "svc-c", firing[0].Service)
}

func TestHistoryUnreadableFileMovedAside(t *testing.T) {
	t.Run("garbage", func(t *testing.T) {
		dir := t.TempDir()
		garbage := []byte(strings.Repeat("\x00not an alert history\xff", 40))
		require.NoError(t, os.WriteFile(filepath.Join(dir, historyLogName), garbage, 0o640))
		got, h, st, logs := loadDamaged(t, dir)
		assert.Empty(t, got)
		assert.EqualValues(t, 1, st.damagedRecords)
		assert.EqualValues(t, len(garbage), st.damagedBytes)
		aside := asideFiles(t, dir, "damaged")
		require.Len(t, aside, 1)
		assert.Equal(t, 1, logs.FilterField(zap.String("moved_to", aside[0])).Len(), "the log names where it went")
		require.NoError(t, h.record(journalEvents[0]), "a new history is written")
		got, _, _, _ = loadDamaged(t, dir)
		assert.Equal(t, keys(journalEvents[0]), got)
	})
	t.Run("not a file", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, os.Mkdir(filepath.Join(dir, historyLogName), 0o750))
		got, h, st, _ := loadDamaged(t, dir)
		assert.Empty(t, got)
		assert.EqualValues(t, 1, st.damagedRecords)
		require.Len(t, asideFiles(t, dir, "damaged"), 1)
		require.NoError(t, h.record(journalEvents[0]))
	})
}

// A format 1 alerts.json is migrated; a damaged one keeps the episodes
// before the damage. Either way the old file is renamed, never deleted.
func TestHistoryMigratesFormat1(t *testing.T) {
	v1 := func(t *testing.T) []byte {
		f := historyFile{Version: 1, Episodes: map[string][]*Episode{}}
		for _, ev := range journalEvents {
			h := &history{max: 100, data: f}
			h.applyLocked(EventRecord{Event: *ev, Delivery: DeliveryQueued})
			f = h.data
		}
		b, err := json.Marshal(&f)
		require.NoError(t, err)
		return b
	}
	t.Run("whole", func(t *testing.T) {
		dir := t.TempDir()
		b := v1(t)
		require.NoError(t, os.WriteFile(filepath.Join(dir, historyV1Name), b, 0o640))
		got, _, st, _ := loadDamaged(t, dir)
		assert.Equal(t, keys(journalEvents...), got)
		assert.Zero(t, st.damagedRecords)
		m := asideFiles(t, dir, "migrated")
		require.Len(t, m, 1)
		kept, _ := os.ReadFile(m[0])
		assert.Equal(t, b, kept)
		got, _, _, _ = loadDamaged(t, dir)
		assert.Equal(t, keys(journalEvents...), got, "read from the journal now")
	})
	t.Run("truncated", func(t *testing.T) {
		dir := t.TempDir()
		b := v1(t)
		// Cut inside t2's only episode: t1's two episodes survive.
		cut := strings.Index(string(b), `"t2"`) + 40
		require.NoError(t, os.WriteFile(filepath.Join(dir, historyV1Name), b[:cut], 0o640))
		got, _, st, logs := loadDamaged(t, dir)
		assert.Equal(t, keys(journalEvents[0], journalEvents[1], journalEvents[2], journalEvents[4]), got)
		assert.EqualValues(t, 1, st.damagedRecords)
		require.Equal(t, 1, logs.FilterMessageSnippet("byte range").Len())
		require.Len(t, asideFiles(t, dir, "damaged"), 1)
	})
	t.Run("garbage", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, historyV1Name), []byte("{\"version\":1,\"episodes\":{\x00\x01"), 0o640))
		got, _, st, _ := loadDamaged(t, dir)
		assert.Empty(t, got)
		assert.EqualValues(t, 1, st.damagedRecords)
		require.Len(t, asideFiles(t, dir, "damaged"), 1)
	})
}

// The appliance starts on a damaged history (it used to refuse to start)
// and counts what it skipped.
func TestConnectorStartsOnDamagedHistory(t *testing.T) {
	dir := t.TempDir()
	b, frames := writeJournal(t, dir)
	b[frames[2]+recordio.HeaderSize+4] ^= 0x20
	require.NoError(t, os.WriteFile(filepath.Join(dir, historyLogName), b, 0o640))

	cfg := testConfig()
	cfg.History.Directory = dir
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	tc, _ := newTracesInstanceWith(t, cfg, tel.NewTelemetrySettings())
	require.NoError(t, tc.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, tc.Shutdown(context.Background())) }()
	m, err := tel.GetMetric(MetricHistoryDamagedRecords)
	require.NoError(t, err)
	assert.EqualValues(t, 1, m.Data.(metricdata.Sum[int64]).DataPoints[0].Value)
	eps := tc.(*tracesConnector).shared.Value().hist.forTenant("t1")
	require.Len(t, eps, 2)
	assert.Equal(t, "svc-b", eps[0].Service)
	require.Len(t, eps[0].Events, 1, "svc-b's firing event was the damaged record")
	assert.Equal(t, StateResolved, eps[0].Events[0].State)
	assert.Len(t, eps[1].Events, 2, "svc-a: firing and resolved")
}
