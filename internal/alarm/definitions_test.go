package alarm

import (
	"strings"
	"testing"
	"time"
)

func TestParseSelector(t *testing.T) {
	s, err := ParseSelector(`scada_pressure_gauge{station="ST-07", point = "PT-101" ,scada.rtu="a\"b"}`)
	if err != nil {
		t.Fatal(err)
	}
	if s.Metric != "scada_pressure_gauge" || len(s.Labels) != 3 || s.Labels[0] != (Label{"point", "PT-101"}) ||
		s.Labels[1] != (Label{"scada.rtu", `a"b`}) || s.Labels[2] != (Label{"station", "ST-07"}) {
		t.Fatalf("%+v", s)
	}
	if back, err := ParseSelector(s.String()); err != nil || back.String() != s.String() {
		t.Fatalf("round trip %q: %v", s.String(), err)
	}
	if s, err := ParseSelector("scada_rtu_up"); err != nil || s.Metric != "scada_rtu_up" || len(s.Labels) != 0 {
		t.Fatalf("bare name: %+v %v", s, err)
	}
	for _, bad := range []string{"", "{a=\"b\"}", `m{a=~"b"}`, `m{a!="b"}`, `m{a="b"`, `m{a="b",a="c"}`, `m{a=b}`, `m{a="b"} x`, `1m`} {
		if _, err := ParseSelector(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

const goodDefs = `
tenants:
  west-pipeline-01:
    max_shelve: 8h
    communication:
      priority: critical
    alarms:
      - id: PT-101
        series: 'scada_pressure_gauge{station="ST-07", point="PT-101"}'
        limits: {hh: 80, h: 70, l: 10, ll: 5}
        priorities: {hh: critical}
        deadband: 1
        on_delay: 2s
        priority: high
        message: {en: "PT-101 {level} {value} bar (limit {limit})", zh-CN: "PT-101 压力{level} {value} bar（限值 {limit}）"}
      - id: PT-101-rate
        series: 'scada_pressure_gauge{point="PT-101"}'
        rate: {per_minute: 5, window: 1m, direction: rising}
        priority: medium
        message: {en: "PT-101 rising fast", zh-CN: "PT-101 压力上升过快"}
      - id: V-12-fault
        series: 'scada_valve_state{valve_id="V-12"}'
        discrete: {abnormal: [fault]}
        priority: high
        message: {en: "V-12 fault", zh-CN: "V-12 故障"}
      - id: V-12-mismatch
        series: 'scada_valve_state{valve_id="V-12"}'
        mismatch: {command: 'scada_valve_command{valve_id="V-12"}', travel_time: 30s}
        priority: medium
        message: {en: "V-12 did not follow its command", zh-CN: "V-12 未按指令动作"}
      - id: PT-101-quality
        series: 'scada_pressure_gauge{point="PT-101"}'
        quality: {delay: 1m}
        priority: low
        message: {en: "PT-101 quality", zh-CN: "PT-101 质量不良"}
`

func TestParseDefinitions(t *testing.T) {
	d, err := ParseDefinitions("alarms.yaml", []byte(goodDefs))
	if err != nil {
		t.Fatal(err)
	}
	td := d.Tenants["west-pipeline-01"]
	if td == nil || len(td.Defs) != 5 || td.MaxShelve != 8*time.Hour || td.Comm.Priority != Critical || !td.Comm.Enabled {
		t.Fatalf("%+v", td)
	}
	lim := td.Defs[0]
	if lim.Kind != KindLimit || len(lim.Levels) != 4 || lim.Levels[0].Level != LevelHH || lim.Levels[0].Priority != Critical || lim.Levels[1].Priority != High {
		t.Fatalf("limits: %+v", lim)
	}
	if lim.AlarmID(LevelHH) != "PT-101:HH" {
		t.Fatal(lim.AlarmID(LevelHH))
	}
	if mm := td.Defs[3]; mm.Kind != KindMismatch || mm.OnDelay != 30*time.Second || mm.Command.Metric != "scada_valve_command" {
		t.Fatalf("mismatch: %+v", mm)
	}
	if q := td.Defs[4]; q.Kind != KindQuality || q.OnDelay != time.Minute {
		t.Fatalf("quality: %+v", q)
	}
	v, l := 81.5, 80.0
	if got := Render(lim.Message.En, &v, &l, "HH", "ST-07", "", "bar"); got != "PT-101 HH 81.5 bar (limit 80)" {
		t.Fatal(got)
	}
}

// TestDefinitionErrorsNameTheKey: each broken definition is refused with
// the file, the tenant, the alarm and the key.
func TestDefinitionErrorsNameTheKey(t *testing.T) {
	base := "tenants:\n  west-pipeline-01:\n    alarms:\n      - id: A1\n        series: 'm{a=\"b\"}'\n        priority: high\n        message: {en: x, zh-CN: y}\n"
	cases := []struct{ extra, want string }{
		{"        limits: {hh: 80, h: 90}\n", "alarms[0] (A1).limits: h (90) must be below hh (80)"},
		{"        limits: {hhh: 80}\n", "alarms[0] (A1).limits.hhh"},
		{"        rate: {per_minute: 0, window: 1m}\n", "alarms[0] (A1).rate.per_minute"},
		{"        rate: {per_minute: 1, window: 1s}\n", "alarms[0] (A1).rate.window"},
		{"        discrete: {abnormal: []}\n", "alarms[0] (A1).discrete.abnormal"},
		{"        mismatch: {command: 'c', travel_time: 0s}\n", "alarms[0] (A1).mismatch.travel_time"},
		{"        quality: {delay: -1s}\n", "alarms[0] (A1).quality.delay"},
		{"        limits: {h: 1}\n        on_delay: 48h\n", "alarms[0] (A1).on_delay"},
		{"        limits: {h: 1}\n        quality: {delay: 1s}\n", "want exactly one of limits"},
		{"        limits: {h: 1}\n        colour: red\n", "field colour not found"},
	}
	for _, c := range cases {
		_, err := ParseDefinitions("alarms.yaml", []byte(base+c.extra))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "alarms.yaml") {
			t.Errorf("%q: error %v, want it to name %q", c.extra, err, c.want)
		}
	}
	for _, c := range []struct{ doc, want string }{
		{"tenants:\n  Bad_Tenant:\n    alarms: []\n", "tenants.Bad_Tenant"},
		{strings.Replace(base, "priority: high", "priority: urgent", 1) + "        limits: {h: 1}\n", "alarms[0] (A1).priority"},
		{strings.Replace(base, "zh-CN: y", "zh-CN: ''", 1) + "        limits: {h: 1}\n", "alarms[0] (A1).message.zh-CN"},
		{strings.Replace(base, "'m{a=\"b\"}'", "'m{a=~\"b\"}'", 1) + "        limits: {h: 1}\n", "alarms[0] (A1).series"},
		{base + "        limits: {h: 1}\n" + strings.Replace(base[strings.Index(base, "      - id"):], "A1", "A1", 1) + "        limits: {h: 2}\n", "alarms[1] (A1).id: \"A1\" is also alarms[0]"},
	} {
		_, err := ParseDefinitions("alarms.yaml", []byte(c.doc))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want it to name %q", err, c.want)
		}
	}
}
