package scadauiextension

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/scadaotel/scadaotel/tenants"
)

// TestVisibilityWithPseudonyms: self-metrics name tenants by pseudonym; a
// tenant sees its own series (and the shared ones only when shared), an
// administrator (no tenant) every series.
func TestVisibilityWithPseudonyms(t *testing.T) {
	tenants.SetSelfMetricKey([]byte("0123456789abcdef0123456789abcdef"))
	t.Cleanup(func() { tenants.SetSelfMetricKey(nil) })
	snap := snapshot{at: time.Unix(100, 0), samples: []promSample{
		{name: "own", labels: map[string]string{"tenant": tenants.SelfMetricPseudonym("west")}, value: 1},
		{name: "other", labels: map[string]string{"tenant": tenants.SelfMetricPseudonym("east")}, value: 2},
		{name: "raw-id-of-other", labels: map[string]string{"tenant": "east"}, value: 3},
		{name: "shared", labels: map[string]string{"receiver": "otlp"}, value: 4},
	}}
	names := func(v tview) []string {
		var out []string
		for _, s := range v.s {
			out = append(out, s.name)
		}
		slices.Sort(out)
		return out
	}
	assert.Equal(t, []string{"own"}, names(visibleTo(snap, "west", false)))
	assert.Equal(t, []string{"own", "shared"}, names(visibleTo(snap, "west", true)))
	assert.Equal(t, []string{"other", "raw-id-of-other"}, names(visibleTo(snap, "east", false)))
	assert.Equal(t, []string{"other", "own", "raw-id-of-other", "shared"}, names(visibleTo(snap, "", false)), "administrator")
}
