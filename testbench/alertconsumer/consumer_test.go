package alertconsumer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/scadaotel/scadaotel/testbench/broker"
)

// syncBuffer is a bytes.Buffer safe for the consumer's writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestConsumesAlertsFromLoopbackBroker produces alert records with a sarama
// producer into the kfake broker and checks that the consumer group prints
// and records them, headers included, and keeps a non-JSON record visible.
func TestConsumesAlertsFromLoopbackBroker(t *testing.T) {
	b, err := broker.Start(0, broker.DefaultTopic)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if !strings.HasPrefix(b.Addr, "127.0.0.1:") {
		t.Fatalf("broker listens on %s, want loopback", b.Addr)
	}

	var out, printed syncBuffer
	c := New(Config{Brokers: []string{b.Addr}, Topic: broker.DefaultTopic, Out: &out, Print: &printed})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()

	pc := sarama.NewConfig()
	pc.Version = sarama.V2_8_0_0
	pc.Producer.Return.Successes = true
	pc.Producer.RequiredAcks = sarama.WaitForAll
	p, err := sarama.NewSyncProducer([]string{b.Addr}, pc)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	alert := `{"alert_id":"a1","tenant":"west-pipeline-01","service":"dispatch-service","state":"firing","error_rate":0.2,"threshold":0.05,"window_s":30,"spans":100,"errors":20,"started_at":"2026-11-25T19:00:00Z","trace_ids":["0af7651916cd43dd8448eb211c80319c"]}`
	for _, v := range []string{alert, "not json"} {
		if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: broker.DefaultTopic, Key: sarama.StringEncoder("west-pipeline-01/dispatch-service"),
			Value: sarama.StringEncoder(v), Headers: []sarama.RecordHeader{{Key: []byte("X-SCADA-Tenant"), Value: []byte("west-pipeline-01")}}}); err != nil {
			t.Fatal(err)
		}
	}
	r, ok := c.WaitFor(ctx, func(r Record) bool { return r.Alert != nil && r.Alert.State == "firing" })
	if !ok {
		t.Fatalf("no alert consumed; records %+v", c.Records())
	}
	if r.Alert.Tenant != "west-pipeline-01" || r.Alert.Errors != 20 || r.Headers["X-SCADA-Tenant"] != "west-pipeline-01" || r.Key != "west-pipeline-01/dispatch-service" {
		t.Errorf("record %+v alert %+v", r, r.Alert)
	}
	if _, ok := c.WaitFor(ctx, func(r Record) bool { return r.DecodeError != "" }); !ok {
		t.Fatal("non-JSON record not recorded")
	}
	cancel()
	<-done
	lines := 0
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	for sc.Scan() {
		var rec Record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("JSON line %q: %v", sc.Text(), err)
		}
		lines++
	}
	if lines != 2 {
		t.Errorf("%d JSON lines, want 2", lines)
	}
	if !strings.Contains(printed.String(), "alert west-pipeline-01/dispatch-service state=firing") {
		t.Errorf("printed: %q", printed.String())
	}
}
