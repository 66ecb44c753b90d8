package tenants

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSelfMetricPseudonyms(t *testing.T) {
	t.Cleanup(func() { selfMetricKey.Store(nil); clear(pseudonymCache.m) })
	assert.Equal(t, "west", SelfMetricPseudonym("west"), "no key: the id (in-process component tests)")

	path := filepath.Join(t.TempDir(), SelfMetricKeyFile)
	key, err := LoadOrCreateSelfMetricKey(path)
	require.NoError(t, err)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	again, err := LoadOrCreateSelfMetricKey(path)
	require.NoError(t, err)
	assert.Equal(t, key, again, "the key is stable across restarts")

	SetSelfMetricKey(key)
	w, e := SelfMetricPseudonym("west"), SelfMetricPseudonym("east")
	assert.Regexp(t, `^t-[0-9a-f]{16}$`, w)
	assert.NotEqual(t, w, e)
	assert.NotContains(t, w, "west")
	assert.Equal(t, w, SelfMetricPseudonym("west"), "stable")
	assert.Equal(t, "", SelfMetricPseudonym(""))
	assert.Equal(t, w, SelfMetricTenant("west").Value.AsString())

	SetSelfMetricKey(make([]byte, 32))
	assert.NotEqual(t, w, SelfMetricPseudonym("west"), "another key, another pseudonym: not guessable without the key")

	require.NoError(t, os.WriteFile(path, []byte("short"), 0o600))
	_, err = LoadOrCreateSelfMetricKey(path)
	require.ErrorContains(t, err, "want 32 bytes")
}
