package scenario

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scadaotel/scadaotel/testbench/alertconsumer"
)

func f64(v float64) *float64 { return &v }

// TestExpectedAlarmSequence: the sequence computed from a small CSV, by
// hand: H 5 with deadband 1 on A (5 is on, 4.5 stays on, 3.9 is off, 6 on
// again before any ack is realarm); L 2 with deadband 0.5 on B; max_rows
// cuts the last row.
func TestExpectedAlarmSequence(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.csv")
	require.NoError(t, os.WriteFile(p, []byte("DATETIME, A,B\n"+
		"r1,4.99,3\n"+
		"r2,5,2\n"+
		"r3,4.5,2.4\n"+
		"r4,3.9,2.6\n"+
		"r5,6,1\n"+
		"r6,3,3\n"), 0o600))
	got, err := expectedAlarmSequence(p, 5, []AlarmLimit{
		{ID: "a", Column: "A", H: f64(5), Deadband: 1},
		{ID: "b", Column: "B", L: f64(2), Deadband: 0.5},
	})
	require.NoError(t, err)
	assert.Equal(t, map[string][]string{
		"a:H": {"raise", "rtn", "realarm"},
		"b:L": {"raise", "rtn", "realarm"},
	}, got)
	_, err = expectedAlarmSequence(p, 0, []AlarmLimit{{ID: "c", Column: "C", H: f64(1)}})
	assert.ErrorContains(t, err, `no column "C"`)
}

// TestAlarmSequencesDedupeAndOrder: records are grouped per alarm of the
// tenant, ordered by seq, a record_id counted once.
func TestAlarmSequencesDedupeAndOrder(t *testing.T) {
	rec := func(id, alarm, tenant, tr string, seq int) alertconsumer.Record {
		b, _ := json.Marshal(map[string]any{"record_id": id, "alarm_id": alarm, "tenant": tenant, "transition": tr, "seq": seq})
		return alertconsumer.Record{Value: b}
	}
	got, n, err := alarmSequences([]alertconsumer.Record{
		rec("2", "a:H", "w", "rtn", 2), rec("1", "a:H", "w", "raise", 1), rec("2", "a:H", "w", "rtn", 2),
		rec("9", "a:H", "other", "raise", 1),
	}, "w")
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.Equal(t, map[string][]string{"a:H": {"raise", "rtn"}}, got)
}

// TestAlarmsConfigRefusesBadLimits: every limit needs exactly one level.
func TestAlarmsConfigRefusesBadLimits(t *testing.T) {
	c := AlarmsConfig{Enabled: true, Limits: []AlarmLimit{{ID: "a", Column: "A", H: f64(1), L: f64(0)}}}
	assert.ErrorContains(t, c.validate(), "alarms.limits[0]")
	c = AlarmsConfig{Enabled: true, Limits: []AlarmLimit{{ID: "a", Column: "A", H: f64(1)}}}
	require.NoError(t, c.validate())
	assert.Equal(t, "scada.alarms", c.Topic)
}
