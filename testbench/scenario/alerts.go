package scenario

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/scadaotel/scadaotel/testbench/alertconsumer"
	"github.com/scadaotel/scadaotel/testbench/traffic"
)

// alertCheck measures error-burst start -> first firing alert record on
// Kafka per burst key (tenant/service). With checks.alert_resolve_wait it
// also waits for each key's resolved record and requires exactly one
// firing and one resolved record per burst key (deduplicated on
// alert_id/state, as the exporter documents at-least-once delivery) and no
// record for any other key. With Jaeger, the firing record's trace ids must
// be readable there.
func alertCheck(ctx context.Context, s *Scenario, d TemplateData, cfg string, consumer *alertconsumer.Consumer, tres *traffic.Result) Check {
	type burstKey struct {
		tenant, service string
		start           time.Time
	}
	var keys []burstKey
	for _, tc := range s.Traffic.Tenants {
		t := tres.Tenants[tc.ID]
		if t == nil {
			continue
		}
		for i, b := range tc.Bursts {
			if i < len(t.BurstStarts) {
				keys = append(keys, burstKey{tc.ID, b.Service, t.BurstStarts[i]})
			}
		}
	}
	if len(keys) == 0 {
		return Check{Name: "burst_alert", Status: StatusNotRun, Detail: "no error bursts in the scenario"}
	}
	if !d.Has("kafka_alerts") || !d.Has("errorfanout") {
		return Check{Name: "burst_alert", Status: StatusNotBuilt, Detail: "appliance lacks the errorfanout connector or the kafka_alerts exporter"}
	}
	if consumer == nil {
		return Check{Name: "burst_alert", Status: StatusNotRun, Detail: "kafka disabled in the scenario"}
	}
	if !strings.Contains(cfg, "kafka_alerts") || !strings.Contains(cfg, "errorfanout") {
		return Check{Name: "burst_alert", Status: StatusNotRun, Detail: "the scenario's appliance config does not wire errorfanout -> kafka_alerts"}
	}
	metrics := map[string]any{}
	ok := true
	var parts []string
	firing := map[string]alertconsumer.Record{}
	for _, k := range keys {
		name := k.tenant + "/" + k.service
		if k.service == "" {
			name = k.tenant + "/*"
		}
		match := func(state string) func(r alertconsumer.Record) bool {
			return func(r alertconsumer.Record) bool {
				return r.Alert != nil && r.Alert.Tenant == k.tenant && (k.service == "" || r.Alert.Service == k.service) && r.Alert.State == state
			}
		}
		wctx, cancel := context.WithDeadline(ctx, k.start.Add(s.Checks.MaxAlertDelay))
		r, found := consumer.WaitFor(wctx, match("firing"))
		cancel()
		if !found {
			// A late alert is still reported, as late (waiting a little
			// more for one the consumer has not read yet).
			lctx, lcancel := context.WithTimeout(ctx, 5*time.Second)
			late, ok2 := consumer.WaitFor(lctx, match("firing"))
			lcancel()
			if ok2 {
				parts = append(parts, fmt.Sprintf("%s: firing alert %v after burst start, over the %v bound", name,
					late.ReceivedAt.Sub(k.start).Round(time.Millisecond), s.Checks.MaxAlertDelay))
				metrics[name+" alert_delay_s"] = late.ReceivedAt.Sub(k.start).Seconds()
			} else {
				parts = append(parts, fmt.Sprintf("%s: no firing alert within %v", name, s.Checks.MaxAlertDelay))
			}
			ok = false
			continue
		}
		firing[name] = r
		delay := r.ReceivedAt.Sub(k.start)
		metrics[name+" alert_delay_s"] = delay.Seconds()
		parts = append(parts, fmt.Sprintf("%s: firing on Kafka %v after burst start (bound %v; error_rate %.3f over %d spans)", name,
			delay.Round(time.Millisecond), s.Checks.MaxAlertDelay, r.Alert.ErrorRate, r.Alert.Spans))
		if s.Checks.AlertResolveWait > 0 {
			rctx, rcancel := context.WithTimeout(ctx, s.Checks.AlertResolveWait)
			rr, rfound := consumer.WaitFor(rctx, func(x alertconsumer.Record) bool {
				return match("resolved")(x) && x.Alert.AlertID == r.Alert.AlertID
			})
			rcancel()
			if !rfound {
				ok = false
				parts = append(parts, fmt.Sprintf("%s: no resolved record within %v after the traffic", name, s.Checks.AlertResolveWait))
			} else {
				metrics[name+" resolved_after_burst_start_s"] = rr.ReceivedAt.Sub(k.start).Seconds()
				parts = append(parts, fmt.Sprintf("%s: resolved %v after burst start", name, rr.ReceivedAt.Sub(k.start).Round(time.Millisecond)))
			}
		}
	}
	if s.Checks.AlertResolveWait > 0 {
		// Give a duplicate or stray record a moment to arrive, then count.
		time.Sleep(2 * time.Second)
		counts := map[string]map[string]int{} // key -> state -> distinct alert ids
		seen := map[string]bool{}
		dups := 0
		for _, r := range consumer.Records() {
			if r.Alert == nil {
				ok = false
				parts = append(parts, fmt.Sprintf("undecodable record at offset %d: %s", r.Offset, r.DecodeError))
				continue
			}
			id := r.Alert.AlertID + "/" + r.Alert.State
			if seen[id] {
				dups++
				continue
			}
			seen[id] = true
			key := r.Alert.Tenant + "/" + r.Alert.Service
			if counts[key] == nil {
				counts[key] = map[string]int{}
			}
			counts[key][r.Alert.State]++
		}
		metrics["duplicate_records"] = dups
		want := map[string]bool{}
		for _, k := range keys {
			want[k.tenant+"/"+k.service] = true
		}
		var names []string
		for key := range counts {
			names = append(names, key)
		}
		sort.Strings(names)
		var stray []string
		for _, key := range names {
			c := counts[key]
			if want[key] {
				if c["firing"] != 1 || c["resolved"] != 1 {
					ok = false
					parts = append(parts, fmt.Sprintf("%s: %d firing and %d resolved records, want 1 and 1", key, c["firing"], c["resolved"]))
				}
				continue
			}
			stray = append(stray, fmt.Sprintf("%s (%d firing, %d resolved)", key, c["firing"], c["resolved"]))
		}
		metrics["records"] = len(consumer.Records())
		metrics["other_keys_alerted"] = len(stray)
		if len(stray) > 0 {
			ok = false
			parts = append(parts, "records for keys without a burst: "+strings.Join(stray, ", "))
		} else {
			parts = append(parts, fmt.Sprintf("%d records in all, none for a key without a burst", len(consumer.Records())))
		}
	}
	if s.Jaeger.Enabled && len(firing) > 0 {
		total, readable := 0, 0
		deadline := time.Now().Add(s.Checks.TraceWait)
		for _, r := range firing {
			for _, id := range r.Alert.TraceIDs {
				total++
				for {
					t, code, _ := getTrace(ctx, d.JaegerQuery, id)
					if code == 200 && t != nil && len(t.Data) > 0 {
						readable++
						break
					}
					if time.Now().After(deadline) || ctx.Err() != nil {
						break
					}
					time.Sleep(500 * time.Millisecond)
				}
			}
		}
		metrics["alert_trace_ids"] = total
		metrics["alert_trace_ids_in_jaeger"] = readable
		if total == 0 || readable != total {
			ok = false
		}
		parts = append(parts, fmt.Sprintf("firing records' trace_ids readable in Jaeger: %d/%d", readable, total))
	}
	return Check{Name: "burst_alert", Status: statusOf(ok), Metrics: metrics, Detail: strings.Join(parts, "; ")}
}
