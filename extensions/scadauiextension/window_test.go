package scadauiextension

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestParseWindow: the one range parser of the station and services APIs.
func TestParseWindow(t *testing.T) {
	now := time.UnixMilli(1_700_000_123_456)
	w, err := parseWindow("", now)
	require.NoError(t, err)
	assert.Equal(t, time.Second, w.step, "5 min default, step 1 s")
	assert.EqualValues(t, 1_700_000_123_000, w.endMs, "aligned to the step")
	assert.EqualValues(t, w.endMs-300_000, w.startMs)
	require.Len(t, w.timestamps, 301)
	assert.Equal(t, w.startMs, w.timestamps[0])
	assert.Equal(t, w.endMs, w.timestamps[300])

	w, err = parseWindow("86400", now)
	require.NoError(t, err)
	assert.Equal(t, 58*time.Second, w.step)
	assert.Zero(t, w.endMs%w.stepMs)
	assert.LessOrEqual(t, len(w.timestamps), maxPoints+1)

	for _, bad := range []string{"299", "604801", "x", "-1", "300.5"} {
		_, err := parseWindow(bad, now)
		assert.EqualError(t, err, "range: seconds between 300 and 604800", bad)
	}
	_, err = parseWindow("604800", now)
	assert.NoError(t, err)
}
