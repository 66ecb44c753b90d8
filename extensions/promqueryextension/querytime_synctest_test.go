package promqueryextension

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestQueryTimeBudget: a tenant that used its burst waits until its bucket
// refills at rate; a wait longer than allowed is refused with the hint;
// another tenant is never held back.
func TestQueryTimeBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newQueryTime(0.5, 2)
		ctx := context.Background()
		require.NoError(t, q.wait(ctx, "a", time.Minute))
		q.charge("a", 3*time.Second) // a heavy query: 2 s burst, 1 s in debt

		start := time.Now()
		require.NoError(t, q.wait(ctx, "b", 0), "b has its own budget")
		assert.Zero(t, time.Since(start))

		err := q.wait(ctx, "a", time.Second)
		var spent errQueryTimeSpent
		require.True(t, errors.As(err, &spent), "%v", err)
		assert.Equal(t, 2*time.Second, spent.wait, "1 s of debt at 0.5 s/s")

		require.NoError(t, q.wait(ctx, "a", 5*time.Second))
		assert.Equal(t, 2*time.Second, time.Since(start), "a waited for its refill")

		// In the long run: 100 back-to-back 1 s queries take 200 s.
		start = time.Now()
		for range 100 {
			require.NoError(t, q.wait(ctx, "a", time.Minute))
			time.Sleep(time.Second)
			q.charge("a", time.Second)
		}
		assert.InDelta(t, 200, time.Since(start).Seconds(), 4)
	})
}
