package kafkaalertexporter

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/IBM/sarama"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"
)

// Per-tenant heads and senders
//
// The sending queue hands requests over in order, one at a time. A request's
// records join their tenant's head (on disk, fsync'ed) and the request is
// acknowledged to the queue at once: the queue's consumer never waits on
// Kafka, so a tenant's backlog never stands in front of another tenant's
// request for longer than its head write. Each tenant with records waiting
// has its own sender goroutine, which delivers the tenant's head in rounds:
// each round is the longest prefix of the head (at most roundPerTenant
// records) in which no Kafka key (tenant/service) occurs twice, sent with
// one SendMessages call. So:
//   - a tenant's records leave in their order, a key's records always do
//     (a key's next record is sent only once its previous one was
//     acknowledged; after a partial failure records of other keys may
//     overtake the failed one, never a record of the same key);
//   - a tenant never waits for another tenant's rounds (the producer is
//     shared, so their messages share the connection to the broker);
//   - a head longer than headLimitPerTenant makes the queue's consumer wait
//     before it takes the next request (backpressure when Kafka cannot keep
//     up); nothing is refused or dropped.

const (
	// roundPerTenant bounds one tenant's records in one round.
	roundPerTenant = 256
	// headLimitPerTenant: above this many undelivered records of a tenant,
	// the queue's consumer waits for the sender before it takes the next
	// request.
	headLimitPerTenant = 10000
	// syncKey is set and deleted in the batch that stores a grown head: a
	// batch that adds a key is fsync'ed by log_storage before it returns (an
	// overwrite alone would be synced up to sync_interval later), and the
	// queue acknowledges the request as soon as the head holds it.
	syncKey = "head.sync"
)

// pushLogs puts one request's alert records at the end of their tenants'
// heads, on disk, and hands them to the sender. With the heads on disk the
// request is acknowledged at once (the sender delivers the records, now or
// after a restart); otherwise (no storage, or the write failed) it waits
// until Kafka acknowledged them, or ctx ends (unacknowledged).
func (e *alertExporter) pushLogs(ctx context.Context, ld plog.Logs) error {
	recs, ignored, err := recordsFromLogs(ld, e.cfg.TraceURL)
	if ignored > 0 {
		e.ignoredN.Add(ctx, int64(ignored))
	}
	if err != nil {
		return consumererror.NewPermanent(err)
	}
	if len(recs) == 0 {
		return nil
	}
	e.accepted.Add(ctx, int64(len(recs)))
	durable := e.admit(ctx, recs)
	e.kickSenders()
	if durable {
		return e.waitForRoom(ctx, recs)
	}
	return e.waitDelivered(ctx, recs)
}

// admit appends the records not yet acknowledged nor in a head to their
// tenants' heads and stores the heads; it reports whether the heads on disk
// hold them.
func (e *alertExporter) admit(ctx context.Context, recs []*Record) bool {
	e.headMu.Lock()
	defer e.headMu.Unlock()
	added := false
	for _, r := range recs {
		k := r.dedupKey()
		if _, done := e.sent[k]; done {
			continue // a late copy (queue tail after a crash, or a re-send)
		}
		if _, queued := e.inHead[k]; queued {
			continue
		}
		if len(e.heads[r.Tenant]) == 0 {
			e.ring = append(e.ring, r.Tenant)
		}
		e.heads[r.Tenant] = append(e.heads[r.Tenant], r)
		e.inHead[k] = struct{}{}
		added = true
	}
	if added || !e.headDurable {
		e.writeHeadLocked(ctx, true)
	}
	return e.store != nil && e.headDurable
}

// waitForRoom returns once every tenant of recs has at most
// headLimitPerTenant records waiting, or the exporter stops, or ctx ends
// (the records are in the heads on disk either way).
func (e *alertExporter) waitForRoom(ctx context.Context, recs []*Record) error {
	for {
		e.headMu.Lock()
		full := false
		for _, r := range recs {
			if len(e.heads[r.Tenant]) > headLimitPerTenant {
				full = true
				break
			}
		}
		round := e.roundDone
		e.headMu.Unlock()
		if !full {
			return nil
		}
		select {
		case <-round:
		case <-e.stopCh:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}

// waitDelivered waits until Kafka acknowledged every record of recs.
func (e *alertExporter) waitDelivered(ctx context.Context, recs []*Record) error {
	for {
		e.headMu.Lock()
		left := 0
		for _, r := range recs {
			if _, ok := e.inHead[r.dedupKey()]; ok {
				left++
			}
		}
		round, lastErr := e.roundDone, e.lastSendErr
		e.headMu.Unlock()
		if left == 0 {
			return nil
		}
		select {
		case <-round:
		case <-e.stopCh:
			return errStopped
		case <-ctx.Done():
			return errors.Join(lastErr, ctx.Err())
		}
	}
}

// headLocked is every tenant's head, tenants in ring order (headMu held).
func (e *alertExporter) headLocked() []*Record {
	var all []*Record
	for _, t := range e.ring {
		all = append(all, e.heads[t]...)
	}
	return all
}

// writeHeadLocked stores the heads (headMu held); sync makes the write
// reach the disk before it returns. On failure the heads stay in memory,
// requests are acknowledged only once delivered, and the next change writes
// them again.
func (e *alertExporter) writeHeadLocked(ctx context.Context, sync bool) {
	if e.store == nil {
		return
	}
	b, err := encodeHead(e.headLocked(), e.sentLRU)
	if err == nil {
		ops := []*storage.Operation{storage.SetOperation(headKey, b)}
		if sync {
			e.syncSeq++
			ops = append(ops, storage.SetOperation(syncKey, []byte(strconv.FormatUint(e.syncSeq, 10))), storage.DeleteOperation(syncKey))
		}
		err = e.store.Batch(context.WithoutCancel(ctx), ops...)
	}
	if err != nil {
		if e.headDurable {
			e.logger.Error("cannot store the alert records head (storage client alerts_head); until it is stored, requests wait for Kafka and a crash may reorder alerts", zap.Error(err))
		}
		e.headDurable = false
		return
	}
	e.headDurable = true
}

// kickSenders starts a sender for every tenant with records waiting and
// none running.
func (e *alertExporter) kickSenders() {
	e.headMu.Lock()
	defer e.headMu.Unlock()
	if e.stopped {
		return
	}
	for _, t := range e.ring {
		if e.sending[t] {
			continue
		}
		e.sending[t] = true
		e.drainWG.Add(1) // under headMu, before stopped is set: never races shutdown's Wait
		go e.sendLoop(t)
	}
}

// sendLoop delivers a tenant's rounds until its head is empty or the
// exporter stops. A failed round is retried after retry_on_failure's
// interval.
func (e *alertExporter) sendLoop(tenant string) {
	defer e.drainWG.Done()
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	wait := e.cfg.Retry.InitialInterval
	for {
		e.headMu.Lock()
		round := e.pickLocked(tenant)
		if len(round) == 0 || e.stopped {
			delete(e.sending, tenant)
			e.headMu.Unlock()
			return
		}
		e.headMu.Unlock()
		err := e.sendRound(round)
		if err == nil {
			wait = e.cfg.Retry.InitialInterval
			continue
		}
		if timer == nil {
			timer = time.NewTimer(wait)
		} else {
			timer.Reset(wait) // Go >= 1.23: no stale tick after Reset
		}
		select {
		case <-e.stopCh:
		case <-timer.C:
		}
		wait = min(time.Duration(float64(wait)*e.cfg.Retry.Multiplier), e.cfg.Retry.MaxInterval)
	}
}

// pickLocked is a tenant's next round: the longest prefix of its head
// without a repeated key, at most roundPerTenant records (headMu held).
func (e *alertExporter) pickLocked(tenant string) []*Record {
	var round []*Record
	keys := map[string]struct{}{}
	for _, r := range e.heads[tenant] {
		if len(keys) == roundPerTenant {
			break
		}
		if _, dup := keys[r.key()]; dup {
			break
		}
		keys[r.key()] = struct{}{}
		round = append(round, r)
	}
	return round
}

// sendRound sends a round with one SendMessages call; the records Kafka
// acknowledged leave their heads (stored without waiting for the disk: a
// crash before that re-sends them, at least once), the others stay.
func (e *alertExporter) sendRound(round []*Record) error {
	msgs := make([]*sarama.ProducerMessage, 0, len(round))
	idx := make([]*Record, 0, len(round))
	var bad []*Record
	for _, r := range round {
		body, err := r.marshal()
		if err != nil {
			e.logger.Error("cannot encode alert record; skipped", zap.String("alert_id", r.AlertID), zap.Error(err))
			bad = append(bad, r)
			continue
		}
		msgs = append(msgs, &sarama.ProducerMessage{
			Topic: e.recordTopic(r), Key: sarama.StringEncoder(r.key()), Value: sarama.ByteEncoder(body),
			Headers: headers(r.Tenant), Metadata: len(idx),
		})
		idx = append(idx, r)
	}
	var failed map[int]*sendFailure
	var err error
	if len(msgs) > 0 {
		failed, err = e.sendBatch(e.stopCtx, msgs)
	}
	acked := append([]*Record(nil), bad...)
	for i, r := range idx {
		if failed[i] == nil {
			acked = append(acked, r)
		}
	}
	if n := len(acked) - len(bad); n > 0 {
		e.sentN.Add(context.Background(), int64(n))
	}
	if err != nil {
		e.logger.Warn("Kafka send of alert records failed; they stay queued and are retried",
			zap.Int("failed", len(failed)), zap.Int("records", len(msgs)), zap.Error(err))
	}
	e.headMu.Lock()
	defer e.headMu.Unlock()
	e.removeLocked(acked)
	if len(acked) > 0 {
		e.writeHeadLocked(context.Background(), false)
	}
	e.lastSendErr = err
	close(e.roundDone)
	e.roundDone = make(chan struct{})
	if err != nil {
		return fmt.Errorf("alert records not acknowledged by Kafka: %w", err)
	}
	return nil
}

// removeLocked takes acknowledged records out of their heads (headMu held).
func (e *alertExporter) removeLocked(acked []*Record) {
	if len(acked) == 0 {
		return
	}
	gone := make(map[*Record]struct{}, len(acked))
	for _, r := range acked {
		gone[r] = struct{}{}
		delete(e.inHead, r.dedupKey())
		e.rememberLocked(r.dedupKey())
	}
	ring := e.ring[:0]
	for _, t := range e.ring {
		kept := e.heads[t][:0]
		for _, r := range e.heads[t] {
			if _, ok := gone[r]; !ok {
				kept = append(kept, r)
			}
		}
		if len(kept) == 0 {
			delete(e.heads, t)
			continue
		}
		e.heads[t] = kept
		ring = append(ring, t)
	}
	e.ring = ring
}
