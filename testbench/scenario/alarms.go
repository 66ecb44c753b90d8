package scenario

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/scadaotel/scadaotel/testbench/alertconsumer"
	"github.com/scadaotel/scadaotel/testbench/rtusim"
)

// AlarmsConfig puts limit alarms on replayed CSV columns (issue 17): the
// runner writes the alarm connector's definitions file for them
// ({{.AlarmsFile}} in the appliance template), reads the topic with a
// second consumer, and the alarm_sequence check compares the records with
// the sequence it computes from the CSV itself.
type AlarmsConfig struct {
	Enabled bool   `yaml:"enabled"`
	Topic   string `yaml:"topic"` // default scada.alarms
	// Wait bounds the wait for the last records after the replay (default 20s).
	Wait   time.Duration `yaml:"wait"`
	Limits []AlarmLimit  `yaml:"limits"`
}

// AlarmLimit is one alarm on the point replayed from a CSV column: a high
// (h) or low (l) limit with a deadband, no delays. Its alarm id is
// <id>:H or <id>:L.
type AlarmLimit struct {
	ID       string   `yaml:"id"`
	Column   string   `yaml:"column"`
	H        *float64 `yaml:"h"`
	L        *float64 `yaml:"l"`
	Deadband float64  `yaml:"deadband"`
}

func (a AlarmLimit) level() (string, float64) {
	if a.H != nil {
		return "H", *a.H
	}
	return "L", *a.L
}

func (c *AlarmsConfig) validate() error {
	if !c.Enabled {
		return nil
	}
	if c.Topic == "" {
		c.Topic = "scada.alarms"
	}
	if c.Wait <= 0 {
		c.Wait = 20 * time.Second
	}
	if len(c.Limits) == 0 {
		return fmt.Errorf("alarms.limits: at least one limit when alarms.enabled")
	}
	for i, l := range c.Limits {
		if l.ID == "" || l.Column == "" || (l.H == nil) == (l.L == nil) || l.Deadband < 0 {
			return fmt.Errorf("alarms.limits[%d]: needs id, column, exactly one of h and l, and a deadband >= 0", i)
		}
	}
	return nil
}

// alarmPoint finds the replayed point of a CSV column.
func alarmPoint(sim *rtusim.Sim, column string) (rtusim.Point, bool) {
	for _, p := range sim.Replay.Points {
		if p.Source == column {
			return p, true
		}
	}
	return rtusim.Point{}, false
}

// writeAlarmDefinitions writes the alarm connector's definitions file for
// the scenario's limits on the series the scada receiver writes for their
// points (a pressure point is scada_pressure_gauge{point=...}, a generic
// one is named after the point).
func writeAlarmDefinitions(path, tenant string, sim *rtusim.Sim, limits []AlarmLimit) error {
	type def struct {
		ID       string             `yaml:"id"`
		Series   string             `yaml:"series"`
		Limits   map[string]float64 `yaml:"limits"`
		Deadband float64            `yaml:"deadband"`
		Priority string             `yaml:"priority"`
		Message  map[string]string  `yaml:"message"`
	}
	var defs []def
	for i, l := range limits {
		p, ok := alarmPoint(sim, l.Column)
		if !ok {
			return fmt.Errorf("alarms.limits[%d]: column %q is not replayed", i, l.Column)
		}
		station := sim.ReceiverName(p.RTU, p.Unit)
		series := fmt.Sprintf("%s{station=%q}", p.Name, station)
		if p.Kind == "pressure" {
			series = fmt.Sprintf("scada_pressure_gauge{station=%q, point=%q}", station, p.Name)
		}
		lvl, v := l.level()
		defs = append(defs, def{ID: l.ID, Series: series, Limits: map[string]float64{strings.ToLower(lvl): v}, Deadband: l.Deadband,
			Priority: "medium", Message: map[string]string{"en": l.Column + " {level}: {value}", "zh-CN": l.Column + " {level}：{value}"}})
	}
	b, err := yaml.Marshal(map[string]any{"tenants": map[string]any{tenant: map[string]any{"alarms": defs}}})
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// expectedAlarmSequence computes, from the CSV alone, the transitions each
// alarm must send when its rows are replayed in order and nobody
// acknowledges: a high limit is on at value >= limit and off below
// limit - deadband (a low one mirrors it); the first time on is "raise",
// off is "rtn", on again before an acknowledgement is "realarm". It reads
// the file itself and knows nothing of the alarm connector's code.
func expectedAlarmSequence(file string, maxRows int, limits []AlarmLimit) (map[string][]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(rows) < 2 {
		return nil, fmt.Errorf("%s: no data rows", file)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[strings.TrimSpace(h)] = i
	}
	data := rows[1:]
	if maxRows > 0 && len(data) > maxRows {
		data = data[:maxRows]
	}
	out := map[string][]string{}
	for _, l := range limits {
		ci, ok := col[l.Column]
		if !ok {
			return nil, fmt.Errorf("%s: no column %q", file, l.Column)
		}
		lvl, limit := l.level()
		id := l.ID + ":" + lvl
		active, raised := false, false
		seq := []string{}
		for n, row := range data {
			v, err := strconv.ParseFloat(strings.TrimSpace(row[ci]), 64)
			if err != nil {
				return nil, fmt.Errorf("%s: row %d column %s: %w", file, n+2, l.Column, err)
			}
			on := v >= limit
			off := v < limit-l.Deadband
			if lvl == "L" {
				on, off = v <= limit, v > limit+l.Deadband
			}
			switch {
			case !active && on && !raised:
				seq, active, raised = append(seq, "raise"), true, true
			case !active && on:
				seq, active = append(seq, "realarm"), true
			case active && off:
				seq, active = append(seq, "rtn"), false
			}
		}
		out[id] = seq
	}
	return out, nil
}

// alarmRecord is what the check reads of a record (the connector's
// published schema, alarm-record.schema.json).
type alarmRecord struct {
	RecordID   string `json:"record_id"`
	AlarmID    string `json:"alarm_id"`
	Tenant     string `json:"tenant"`
	Transition string `json:"transition"`
	Seq        int    `json:"seq"`
}

// alarmSequences groups the consumed records of tenant by alarm id, in
// seq order, each record_id once (delivery is at least once).
func alarmSequences(recs []alertconsumer.Record, tenant string) (map[string][]string, int, error) {
	seen := map[string]bool{}
	by := map[string][]alarmRecord{}
	n := 0
	for _, r := range recs {
		var a alarmRecord
		if err := json.Unmarshal(r.Value, &a); err != nil {
			return nil, 0, fmt.Errorf("record at offset %d: %w", r.Offset, err)
		}
		if a.Tenant != tenant || seen[a.RecordID] {
			continue
		}
		seen[a.RecordID] = true
		n++
		by[a.AlarmID] = append(by[a.AlarmID], a)
	}
	out := map[string][]string{}
	for id, rs := range by {
		slices.SortFunc(rs, func(a, b alarmRecord) int { return a.Seq - b.Seq })
		for _, r := range rs {
			out[id] = append(out[id], r.Transition)
		}
	}
	return out, n, nil
}

// alarmCheck is alarm_sequence: the records on the alarm topic, per alarm,
// must be exactly the sequence computed from the CSV.
func (r *runner) alarmCheck(ctx context.Context) Check {
	s := r.s
	const name = "alarm_sequence"
	if !s.Alarms.Enabled {
		return Check{}
	}
	if !r.d.Has("alarm") || !r.d.Has("kafka_alerts") {
		return Check{Name: name, Status: StatusNotBuilt, Detail: "appliance lacks the alarm connector or the kafka_alerts exporter"}
	}
	if r.alarms == nil || r.sim == nil || s.RTUs.Source.Kind != "csv" {
		return Check{Name: name, Status: StatusNotRun, Detail: "needs kafka and a csv replay"}
	}
	csvCfg := s.RTUs.Source.CSV
	file := csvCfg.File
	if !filepath.IsAbs(file) {
		file = filepath.Join(s.Root, file)
	}
	want, err := expectedAlarmSequence(file, csvCfg.MaxRows, s.Alarms.Limits)
	if err != nil {
		return Check{Name: name, Status: StatusFail, Detail: err.Error()}
	}
	total := 0
	for _, seq := range want {
		total += len(seq)
	}
	// Wait for as many records as expected, then a little more for any
	// record too many.
	deadline := time.Now().Add(s.Alarms.Wait)
	var got map[string][]string
	var n int
	for {
		got, n, err = alarmSequences(r.alarms.Records(), r.d.RTUTenant)
		if err != nil || n >= total || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
	if err == nil {
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
		got, n, err = alarmSequences(r.alarms.Records(), r.d.RTUTenant)
	}
	if err != nil {
		return Check{Name: name, Status: StatusFail, Detail: err.Error()}
	}
	metrics := map[string]any{"expected_records": total, "records": n}
	var diffs []string
	ids := make([]string, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		metrics[id+" transitions"] = len(got[id])
		if strings.Join(got[id], ",") != strings.Join(want[id], ",") {
			diffs = append(diffs, fmt.Sprintf("%s: got [%s], want [%s]", id, strings.Join(got[id], " "), strings.Join(want[id], " ")))
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: %d records for an alarm not expected", id, len(got[id])))
		}
	}
	slices.Sort(diffs)
	if len(diffs) > 0 {
		return Check{Name: name, Status: StatusFail, Detail: strings.Join(diffs, "; "), Metrics: metrics}
	}
	return Check{Name: name, Status: StatusPass, Metrics: metrics,
		Detail: fmt.Sprintf("%d records of %d alarms on %s equal the sequence computed from the CSV", n, len(want), s.Alarms.Topic)}
}
