package alarmconnector

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

// CheckRecord validates one record (its JSON) against
// alarm-record.schema.json: required keys, no other keys, JSON types,
// enums, patterns, and the message object. The e2e tests use it on what
// they read from Kafka.
func CheckRecord(schemaPath string, body []byte) error {
	raw, err := os.ReadFile(schemaPath)
	if err != nil {
		return err
	}
	type prop struct {
		Type       any             `json:"type"`
		Enum       []any           `json:"enum"`
		Pattern    string          `json:"pattern"`
		Required   []string        `json:"required"`
		Properties map[string]prop `json:"properties"`
	}
	var schema prop
	if err := json.Unmarshal(raw, &schema); err != nil {
		return err
	}
	var rec map[string]any
	if err := json.Unmarshal(body, &rec); err != nil {
		return err
	}
	var check func(path string, p prop, v any) error
	check = func(path string, p prop, v any) error {
		var types []string
		switch tt := p.Type.(type) {
		case string:
			types = []string{tt}
		case []any:
			for _, x := range tt {
				types = append(types, x.(string))
			}
		}
		got := "null"
		switch x := v.(type) {
		case string:
			got = "string"
		case bool:
			got = "boolean"
		case float64:
			got = "number"
			if x == float64(int64(x)) && slices.Contains(types, "integer") {
				got = "integer"
			}
		case map[string]any:
			got = "object"
			for _, k := range p.Required {
				if _, ok := x[k]; !ok {
					return fmt.Errorf("%s: required %q missing", path, k)
				}
			}
			for k, sub := range x {
				sp, ok := p.Properties[k]
				if !ok {
					return fmt.Errorf("%s: %q is not in the schema", path, k)
				}
				if err := check(path+"."+k, sp, sub); err != nil {
					return err
				}
			}
		}
		if !slices.Contains(types, got) {
			return fmt.Errorf("%s: type %s, want %v", path, got, types)
		}
		if len(p.Enum) > 0 && !slices.Contains(p.Enum, v) {
			return fmt.Errorf("%s: %v not in %v", path, v, p.Enum)
		}
		if s, ok := v.(string); ok && p.Pattern != "" && !regexp.MustCompile(p.Pattern).MatchString(s) {
			return fmt.Errorf("%s: %q does not match %s", path, s, p.Pattern)
		}
		return nil
	}
	return check("record", schema, rec)
}

// TestRecordsMatchTheSchema: records of every kind of transition the
// tests make validate against the published schema.
func TestRecordsMatchTheSchema(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		defs := filepath.Join(dir, "alarms.yaml")
		writeDefs(t, defs, limitDefs(tenantA, "PT-101"))
		tc := startConn(t, defs, filepath.Join(dir, "state"), &recSink{})
		defer tc.stop(t)
		h := tc.c.handler()
		for _, v := range []float64{75, 85, 60} {
			tc.send(t, rtuBatch(tenantA, "rtu-1", "ST-07", true, map[string]float64{"PT-101": v}))
		}
		tc.send(t, rtuBatch(tenantA, "rtu-1", "ST-07", false, map[string]float64{"PT-101": 0}))
		tc.send(t, rtuBatch(tenantA, "rtu-1", "ST-07", true, map[string]float64{"PT-101": 75}))
		serveAs(h, tenantA, "ta", "POST", "/api/v1/alarms/PT-101:H/ack", `{"reason":"ok"}`)
		serveAs(h, tenantA, "ta", "POST", "/api/v1/alarms/PT-101:HH/shelve", `{"duration":"1m","reason":"test"}`)
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		recs := tc.sink.take()
		seen := map[string]bool{}
		for _, r := range recs {
			b, _ := json.Marshal(r)
			if err := CheckRecord("alarm-record.schema.json", b); err != nil {
				t.Errorf("%s: %v", b, err)
			}
			seen[r.Transition] = true
		}
		for _, tr := range []string{"raise", "rtn", "ack", "shelve", "shelve_expired"} {
			if !seen[tr] {
				t.Errorf("no %s record among %v", tr, transitions(recs))
			}
		}
	})
}
