package promqueryextension

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGateIsPerTenant: a tenant at its slots and queue is refused or waits;
// another tenant's query starts at once; entries go when unused.
func TestGateIsPerTenant(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newTenantGate(1, 1, 5*time.Second)
		ctx := context.Background()
		relA, err := g.acquire(ctx, "a")
		require.NoError(t, err)

		queued := make(chan error, 1)
		var relQueued func()
		go func() {
			var err error
			relQueued, err = g.acquire(ctx, "a")
			queued <- err
		}()
		synctest.Wait()
		_, err = g.acquire(ctx, "a")
		assert.ErrorIs(t, err, errGateFull, "a's slot and queue are taken")

		relB, err := g.acquire(ctx, "b")
		require.NoError(t, err, "b never waits behind a")
		relB()

		relA()
		require.NoError(t, <-queued, "the queued query of a runs once a slot frees")
		relQueued()
		assert.Empty(t, g.gates, "no entry kept for idle tenants")
	})
}

func TestGateQueueTimeoutAndCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newTenantGate(1, 4, 5*time.Second)
		rel, err := g.acquire(context.Background(), "a")
		require.NoError(t, err)
		start := time.Now()
		_, err = g.acquire(context.Background(), "a")
		assert.ErrorIs(t, err, errGateTimeout)
		assert.Equal(t, 5*time.Second, time.Since(start))

		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { _, err := g.acquire(ctx, "a"); done <- err }()
		synctest.Wait()
		cancel()
		assert.ErrorIs(t, <-done, context.Canceled)
		rel()
		assert.Empty(t, g.gates)
	})
}
