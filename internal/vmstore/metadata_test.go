package vmstore

import (
	"context"
	"strconv"
	"testing"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// /api/v1/metadata answers from the stored metadata, only the caller's
// tenant's, and the metadata survives a restart (saved by Persist).
func TestMetadataIsPerTenantAndPersisted(t *testing.T) {
	require.True(t, testStore.SetMetadata("meta-west", "tank_level_meters", MetricMetadata{Type: "gauge", Help: "Tank level.", Unit: "meters"}))
	require.True(t, testStore.SetMetadata("meta-west", "valve_operations_total", MetricMetadata{Type: "counter", Help: "Valve moves."}))
	require.True(t, testStore.SetMetadata("meta-east", "east_secret_total", MetricMetadata{Type: "counter", Help: "East only."}))
	assert.False(t, testStore.SetMetadata("Not A Tenant", "x", MetricMetadata{Type: "gauge"}))

	srv := apiServer(t)
	ctx := context.Background()
	west := promClient(t, srv.URL, "meta-west")
	md, err := west.Metadata(ctx, "", "")
	require.NoError(t, err)
	assert.Equal(t, map[string][]promv1.Metadata{
		"tank_level_meters":      {{Type: "gauge", Help: "Tank level.", Unit: "meters"}},
		"valve_operations_total": {{Type: "counter", Help: "Valve moves.", Unit: ""}},
	}, md)
	one, err := west.Metadata(ctx, "valve_operations_total", "")
	require.NoError(t, err)
	assert.Len(t, one, 1)
	limited, err := west.Metadata(ctx, "", "1")
	require.NoError(t, err)
	assert.Equal(t, []string{"tank_level_meters"}, keysOf(limited))
	// Another tenant's family is invisible, by listing and by name.
	none, err := west.Metadata(ctx, "east_secret_total", "")
	require.NoError(t, err)
	assert.Empty(t, none)
	east, err := promClient(t, srv.URL, "meta-east").Metadata(ctx, "", "")
	require.NoError(t, err)
	assert.Equal(t, []string{"east_secret_total"}, keysOf(east))

	require.NoError(t, testStore.Persist())
	reloaded, err := loadMetadata(testStore.Path())
	require.NoError(t, err)
	assert.Equal(t, MetricMetadata{Type: "gauge", Help: "Tank level.", Unit: "meters"}, reloaded.byTenant["meta-west"]["tank_level_meters"])
	assert.Contains(t, reloaded.byTenant["meta-east"], "east_secret_total")
}

func TestMetadataIsBoundedPerTenant(t *testing.T) {
	for i := 0; i < MaxMetadataPerTenant; i++ {
		require.True(t, testStore.SetMetadata("meta-flood", "m"+strconv.Itoa(i), MetricMetadata{Type: "gauge"}))
	}
	assert.False(t, testStore.SetMetadata("meta-flood", "one_more", MetricMetadata{Type: "gauge"}))
	assert.True(t, testStore.SetMetadata("meta-flood", "m0", MetricMetadata{Type: "counter"}), "updating a known family still works")
}

func keysOf(m map[string][]promv1.Metadata) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
