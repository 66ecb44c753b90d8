package errorfanoutconnector

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

// Concurrent history writes share journal writes (group commit): every
// event of 40 concurrent calls is on disk once, each call's events in
// order, and exactly one call reports each write.
func TestHistoryGroupCommit(t *testing.T) {
	dir := t.TempDir()
	h := newHistory(HistoryConfig{Directory: dir, MaxEpisodes: 1000}, zap.NewNop())
	h.load()
	defer h.close()
	const calls, perCall = 40, 5
	var wg sync.WaitGroup
	var mu sync.Mutex
	writers := 0
	for c := 0; c < calls; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var evs []*Event
			for i := 0; i < perCall; i++ {
				evs = append(evs, histEvent(c*perCall+i+1, "t", "svc", StateFiring))
			}
			wrote, err := h.recordAll(evs)
			assert.NoError(t, err)
			if wrote {
				mu.Lock()
				writers++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	b, err := os.ReadFile(filepath.Join(dir, historyLogName))
	require.NoError(t, err)
	events, damaged, _ := decodeJournal(b)
	assert.Empty(t, damaged)
	require.Len(t, events, calls*perCall)
	pos := map[string]int{}
	for i, er := range events {
		pos[er.AlertID] = i
	}
	for c := 0; c < calls; c++ {
		for i := 1; i < perCall; i++ {
			assert.Less(t, pos[histEvent(c*perCall+i, "t", "svc", StateFiring).AlertID], pos[histEvent(c*perCall+i+1, "t", "svc", StateFiring).AlertID])
		}
	}
	assert.GreaterOrEqual(t, writers, 1)
	assert.LessOrEqual(t, writers, calls)
	t.Logf("%d calls, %d journal writes", calls, writers)
}
