package kafkaalertexporter

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/IBM/sarama"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"

	"github.com/scadaotel/scadaotel/internal/audit"
	"github.com/scadaotel/scadaotel/tenants"
)

// auditBatch bounds the audit records sent in one SendMessages call.
const (
	auditBatch = 256
	// auditKey is the Kafka key of every audit record: one partition, so
	// the topic holds the chain in order.
	auditKey = "audit"
	// auditNextKey (storage client audit_export) is the sequence number the
	// export resumes from after a restart.
	auditNextKey = "next"
)

// auditExport copies the audit trail to Kafka: it polls the trail, sends
// what was appended in chain order, and stores its position once Kafka
// acknowledged it (at least once: after a crash a few records go again).
type auditExport struct {
	e        *alertExporter
	tail     *audit.Tail
	store    storage.Client
	pending  []audit.Record // read from the trail, not yet acknowledged
	interval time.Duration
	stop     chan struct{}
	done     chan struct{}
}

// startAudit starts the export when audit.topic is set (the logs exporter
// only: the traces instance of the same config leaves it alone).
func (e *alertExporter) startAudit(ctx context.Context, host component.Host, se storage.Extension) error {
	if e.cfg.Audit.Topic == "" || e.signal != "alerts" {
		return nil
	}
	log := tenants.AuditLogFromHost(host, e.cfg.Authenticator)
	if log == nil {
		return fmt.Errorf("audit.topic: extension %q keeps no audit trail (set its audit.directory)", e.cfg.Authenticator)
	}
	cl, err := se.GetClient(ctx, component.KindExporter, e.id, "audit_export")
	if err != nil {
		return fmt.Errorf("audit.topic: %w", err)
	}
	var next uint64
	if b, err := cl.Get(ctx, auditNextKey); err != nil {
		_ = cl.Close(ctx)
		return fmt.Errorf("audit.topic: cannot read the export's position: %w", err)
	} else if len(b) > 0 {
		if next, err = strconv.ParseUint(string(b), 10, 64); err != nil {
			e.logger.Error("the audit export's stored position is damaged: the trail is sent again from its oldest record (consumers dedupe on seq)", zap.ByteString("value", b))
			next = 0
		}
	}
	a := &auditExport{e: e, tail: audit.NewTail(log.Dir(), next), store: cl, interval: e.cfg.Audit.PollInterval,
		stop: make(chan struct{}), done: make(chan struct{})}
	e.auditExp = a
	go a.run()
	return nil
}

func (a *auditExport) run() {
	defer close(a.done)
	wait := a.e.cfg.Retry.InitialInterval
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-timer.C:
		}
		more, err := a.step()
		switch {
		case err != nil:
			a.e.logger.Warn("audit records not acknowledged by Kafka; retried", zap.Int("records", len(a.pending)), zap.Error(err))
			timer.Reset(wait)
			wait = min(time.Duration(float64(wait)*a.e.cfg.Retry.Multiplier), a.e.cfg.Retry.MaxInterval)
		case more:
			wait = a.e.cfg.Retry.InitialInterval
			timer.Reset(0)
		default:
			wait = a.e.cfg.Retry.InitialInterval
			timer.Reset(a.interval)
		}
	}
}

// step sends the pending records, or reads new ones and sends them; more
// means a full batch went out and the trail may hold more.
func (a *auditExport) step() (more bool, err error) {
	if len(a.pending) == 0 {
		recs, damaged, err := a.tail.Read(auditBatch)
		if damaged > 0 {
			a.e.logger.Error("audit trail lines that do not parse were not exported; run `scadaotel audit verify`", zap.Int("lines", damaged))
		}
		if err != nil {
			return false, err
		}
		a.pending = recs
	}
	if len(a.pending) == 0 {
		return false, nil
	}
	msgs := make([]*sarama.ProducerMessage, 0, len(a.pending))
	for i, r := range a.pending {
		body, err := json.Marshal(r)
		if err != nil {
			return false, err
		}
		msgs = append(msgs, &sarama.ProducerMessage{Topic: a.e.cfg.Audit.Topic, Key: sarama.StringEncoder(auditKey),
			Value: sarama.ByteEncoder(body), Metadata: i,
			Headers: []sarama.RecordHeader{{Key: []byte("content-type"), Value: []byte("application/json")}}})
	}
	// A partial failure sends the whole batch again: a record Kafka took
	// may be sent twice, never one left out or out of order.
	if _, err := a.e.sendBatch(a.e.stopCtx, msgs); err != nil {
		return false, err
	}
	n := len(a.pending)
	a.e.auditN.Add(context.Background(), int64(n))
	a.pending = nil
	// Not synced: a position lost in a crash only sends records again.
	if err := a.store.Set(context.Background(), auditNextKey, []byte(strconv.FormatUint(a.tail.Next(), 10))); err != nil {
		a.e.logger.Warn("cannot store the audit export's position; after a restart some records go again", zap.Error(err))
	}
	return n == auditBatch, nil
}

// shutdown stops the export and closes its storage client.
func (a *auditExport) shutdown(ctx context.Context) error {
	close(a.stop)
	<-a.done
	return a.store.Close(ctx)
}
