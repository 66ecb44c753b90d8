package audit

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFailuresAreAggregatedPerSource: 100 failures of one source in a
// minute are two records (the first, then the count), another source's
// first failure is written at once, and the chain verifies.
func TestFailuresAreAggregatedPerSource(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		l := openTest(t, dir, 1<<20)
		f := NewFailures(l, time.Minute, 2)
		for range 100 {
			f.Record(Record{Actor: "-", Source: "10.0.0.9", Action: "auth_failure", Outcome: Failure, Detail: "unknown token"})
		}
		f.Record(Record{Actor: "-", Source: "10.0.0.7", Action: "auth_failure", Outcome: Failure})
		for i := range 5 { // beyond the bound of 2 sources: one overflow entry
			f.Record(Record{Actor: "-", Source: fmt.Sprintf("10.0.1.%d", i), Action: "auth_failure", Outcome: Failure})
		}
		recs, err := Read(dir, 0, 100)
		require.NoError(t, err)
		require.Len(t, recs, 3, "the first failure of each source (and of the overflow) at once")
		time.Sleep(time.Minute + time.Second)
		synctest.Wait()
		recs, err = Read(dir, 0, 100)
		require.NoError(t, err)
		require.Len(t, recs, 5)
		counts := map[string]int{}
		for _, r := range recs[3:] {
			counts[r.Source] = r.Count
		}
		assert.Equal(t, map[string]int{"10.0.0.9": 99, overflowSource: 4}, counts)
		f.Stop()
		_, err = Verify(dir, testKey)
		require.NoError(t, err)
	})
}
