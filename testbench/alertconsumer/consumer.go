// Package alertconsumer reads alert records from Kafka with an IBM/sarama
// consumer group, prints them and records them as JSON lines.
package alertconsumer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// Alert is the part of an alert record the testbench checks; the whole
// record is kept in Record.Value.
type Alert struct {
	AlertID   string    `json:"alert_id"`
	Tenant    string    `json:"tenant"`
	Service   string    `json:"service"`
	Station   string    `json:"station"`
	State     string    `json:"state"`
	ErrorRate float64   `json:"error_rate"`
	Threshold float64   `json:"threshold"`
	WindowS   float64   `json:"window_s"`
	Spans     uint64    `json:"spans"`
	Errors    uint64    `json:"errors"`
	StartedAt time.Time `json:"started_at"`
	TraceIDs  []string  `json:"trace_ids"`
}

// Record is one consumed Kafka record.
type Record struct {
	Topic      string            `json:"topic"`
	Partition  int32             `json:"partition"`
	Offset     int64             `json:"offset"`
	Key        string            `json:"key"`
	Headers    map[string]string `json:"headers,omitempty"`
	Timestamp  time.Time         `json:"timestamp"`
	ReceivedAt time.Time         `json:"received_at"`
	Value      json.RawMessage   `json:"value"`
	// Alert is Value decoded; DecodeError says why it could not be.
	Alert       *Alert `json:"-"`
	DecodeError string `json:"decode_error,omitempty"`
}

// Config configures a consumer.
type Config struct {
	Brokers []string
	Topic   string
	Group   string // default "scadaotel-testbench"
	// Out receives every record as one JSON line (optional).
	Out io.Writer
	// Print receives a one-line summary per record (optional).
	Print io.Writer
}

// Consumer collects records until its context ends.
type Consumer struct {
	cfg     Config
	mu      sync.Mutex
	records []Record
	notify  chan struct{}
	ready   chan struct{}
	once    sync.Once
}

// New returns a consumer; Run starts it.
func New(cfg Config) *Consumer {
	if cfg.Group == "" {
		cfg.Group = "scadaotel-testbench"
	}
	return &Consumer{cfg: cfg, notify: make(chan struct{}, 1), ready: make(chan struct{})}
}

// Ready is closed once the group has its first assignment.
func (c *Consumer) Ready() <-chan struct{} { return c.ready }

// Run consumes until ctx is done.
func (c *Consumer) Run(ctx context.Context) error {
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_8_0_0
	sc.ClientID = "scadaotel-testbench"
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	sc.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange()}
	sc.Metadata.RefreshFrequency = time.Second
	g, err := sarama.NewConsumerGroup(c.cfg.Brokers, c.cfg.Group, sc)
	if err != nil {
		return fmt.Errorf("alert consumer: brokers %v: %w", c.cfg.Brokers, err)
	}
	defer g.Close()
	for ctx.Err() == nil {
		if err := g.Consume(ctx, []string{c.cfg.Topic}, c); err != nil {
			if errors.Is(err, sarama.ErrClosedConsumerGroup) || ctx.Err() != nil {
				break
			}
			// Topic may not exist yet: retry.
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}

// Records returns the records so far.
func (c *Consumer) Records() []Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Record(nil), c.records...)
}

// WaitFor waits until match returns true for a record or ctx ends, and
// returns that record.
func (c *Consumer) WaitFor(ctx context.Context, match func(Record) bool) (Record, bool) {
	seen := 0
	for {
		recs := c.Records()
		for _, r := range recs[seen:] {
			if match(r) {
				return r, true
			}
		}
		seen = len(recs)
		select {
		case <-ctx.Done():
			return Record{}, false
		case <-c.notify:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Setup implements sarama.ConsumerGroupHandler.
func (c *Consumer) Setup(sarama.ConsumerGroupSession) error {
	c.once.Do(func() { close(c.ready) })
	return nil
}

// Cleanup implements sarama.ConsumerGroupHandler.
func (c *Consumer) Cleanup(sarama.ConsumerGroupSession) error { return nil }

// ConsumeClaim implements sarama.ConsumerGroupHandler.
func (c *Consumer) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for {
		select {
		case <-sess.Context().Done():
			return nil
		case m, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			c.add(m)
			sess.MarkMessage(m, "")
		}
	}
}

func (c *Consumer) add(m *sarama.ConsumerMessage) {
	r := Record{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: string(m.Key),
		Timestamp: m.Timestamp, ReceivedAt: time.Now()}
	if json.Valid(m.Value) {
		r.Value = append(json.RawMessage(nil), m.Value...)
		var a Alert
		if err := json.Unmarshal(m.Value, &a); err != nil {
			r.DecodeError = err.Error()
		} else {
			r.Alert = &a
		}
	} else {
		// Keep what arrived, as a JSON string.
		r.Value, _ = json.Marshal(string(m.Value))
		r.DecodeError = "value is not JSON"
	}
	for _, h := range m.Headers {
		if h == nil {
			continue
		}
		if r.Headers == nil {
			r.Headers = map[string]string{}
		}
		r.Headers[string(h.Key)] = string(h.Value)
	}
	c.mu.Lock()
	c.records = append(c.records, r)
	if c.cfg.Out != nil {
		b, _ := json.Marshal(r)
		_, _ = c.cfg.Out.Write(append(b, '\n'))
	}
	if c.cfg.Print != nil {
		if r.Alert != nil {
			fmt.Fprintf(c.cfg.Print, "%s alert %s/%s state=%s error_rate=%.3f spans=%d errors=%d (key %q, offset %d)\n",
				r.ReceivedAt.Format(time.RFC3339), r.Alert.Tenant, r.Alert.Service, r.Alert.State, r.Alert.ErrorRate,
				r.Alert.Spans, r.Alert.Errors, r.Key, r.Offset)
		} else {
			fmt.Fprintf(c.cfg.Print, "%s record key %q offset %d: %s\n", r.ReceivedAt.Format(time.RFC3339), r.Key, r.Offset, r.DecodeError)
		}
	}
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
}
