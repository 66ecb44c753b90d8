package scenario

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/scadaotel/scadaotel/testbench/alertconsumer"
	"github.com/scadaotel/scadaotel/testbench/broker"
	"github.com/scadaotel/scadaotel/testbench/traffic"
)

func alertRecord(id, tenant, service, state string) string {
	return fmt.Sprintf(`{"alert_id":%q,"tenant":%q,"service":%q,"state":%q,"error_rate":0.2,"threshold":0.1,"window_s":5,"spans":100,"errors":20,"started_at":"2026-11-25T19:00:00Z","trace_ids":["0af7651916cd43dd8448eb211c80319c"]}`,
		id, tenant, service, state)
}

// TestAlertCheckCountsRecords feeds alert records through a kfake broker
// and the sarama alert consumer into burst_alert: one firing and one
// resolved record (a duplicate tolerated) passes; a record for a key
// without a burst, a second episode, a missing resolved record or a late
// firing record fails it.
func TestAlertCheckCountsRecords(t *testing.T) {
	const w, svc = "west-pipeline-01", "dispatch-service"
	cases := []struct {
		name    string
		ago     time.Duration // burst start before the records are sent
		records []string
		pass    bool
		detail  string
	}{
		{"one episode, duplicate firing", 0, []string{alertRecord("a1", w, svc, "firing"), alertRecord("a1", w, svc, "firing"), alertRecord("a1", w, svc, "resolved")}, true, "none for a key without a burst"},
		{"stray key", 0, []string{alertRecord("a1", w, svc, "firing"), alertRecord("a1", w, svc, "resolved"), alertRecord("b1", "east-pipeline-02", "rtu-gateway", "firing")}, false, "east-pipeline-02/rtu-gateway"},
		{"two episodes", 0, []string{alertRecord("a1", w, svc, "firing"), alertRecord("a1", w, svc, "resolved"), alertRecord("a2", w, svc, "firing"), alertRecord("a2", w, svc, "resolved")}, false, "2 firing and 2 resolved"},
		{"never resolved", 0, []string{alertRecord("a1", w, svc, "firing")}, false, "no resolved record"},
		{"late firing", 10 * time.Second, []string{alertRecord("a1", w, svc, "firing"), alertRecord("a1", w, svc, "resolved")}, false, "over the 3s bound"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := broker.Start(0, broker.DefaultTopic)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			c := alertconsumer.New(alertconsumer.Config{Brokers: []string{b.Addr}, Topic: broker.DefaultTopic})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			done := make(chan struct{})
			go func() { _ = c.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()

			pc := sarama.NewConfig()
			pc.Version = sarama.V2_8_0_0
			pc.Producer.Return.Successes = true
			pc.Producer.RequiredAcks = sarama.WaitForAll
			p, err := sarama.NewSyncProducer([]string{b.Addr}, pc)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			start := time.Now().Add(-tc.ago)
			for _, v := range tc.records {
				if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: broker.DefaultTopic, Value: sarama.StringEncoder(v)}); err != nil {
					t.Fatal(err)
				}
			}
			s := &Scenario{Kafka: KafkaConfig{Enabled: true}, Traffic: &traffic.Config{Tenants: []traffic.TenantConfig{
				{ID: w, Bursts: []traffic.Burst{{Service: svc, At: 0, For: 5 * time.Second, Rate: 0.2}}}, {ID: "east-pipeline-02"}}},
				Checks: Checks{MaxAlertDelay: 3 * time.Second, AlertResolveWait: 2 * time.Second}}
			d := TemplateData{components: map[string]bool{"errorfanout": true, "kafka_alerts": true}}
			tres := &traffic.Result{Tenants: map[string]*traffic.TenantResult{w: {BurstStarts: []time.Time{start}}, "east-pipeline-02": {}}}
			got := alertCheck(ctx, s, d, "errorfanout kafka_alerts", c, tres)
			if (got.Status == StatusPass) != tc.pass || !strings.Contains(got.Detail, tc.detail) {
				t.Errorf("status %s, want pass=%v with %q in the detail: %s", got.Status, tc.pass, tc.detail, got.Detail)
			}
		})
	}
}
