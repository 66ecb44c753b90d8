package kafkaalertexporter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/IBM/sarama"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/scadaotel/scadaotel/tenants"
)

// Per-tenant heads and senders
//
// The logs pipeline hands a request to pushLogs directly (no sending queue
// in front: a FIFO queue with one consumer made every tenant's request wait
// for the requests of a storming tenant ahead of it). The request's records
// join their tenant's head, which is written (fsync'ed) under the tenant's
// own lock, and the request is answered at once: nothing waits on Kafka,
// and a tenant's write never carries or waits for another tenant's head
// beyond sharing an fsync. Each tenant with records waiting has its own
// sender goroutine, which delivers the tenant's head in rounds: each round
// is the longest prefix of the head (at most roundPerTenant records) in
// which no Kafka key (tenant/service) occurs twice, sent with one
// SendMessages call. So:
//   - a tenant's records leave in their order, a key's records always do
//     (a key's next record is sent only once its previous one was
//     acknowledged; after a partial failure records of other keys may
//     overtake the failed one, never a record of the same key);
//   - a tenant never waits for another tenant's rounds (the producer is
//     shared, so their messages share the connection to the broker);
//   - a tenant with more than headLimitPerTenant records waiting has its
//     next request refused with a retryable error (the connector keeps the
//     events and offers them again); the other tenants go on.

const (
	// roundPerTenant bounds one tenant's records in one round.
	roundPerTenant = 256
	// headLimitPerTenant: with this many undelivered records of a tenant,
	// the tenant's next request is refused (retryable) until Kafka took some.
	headLimitPerTenant = 10000
	// syncKey is set and deleted in the batch that stores a grown head: a
	// batch that adds a key is fsync'ed by log_storage before it returns (an
	// overwrite alone would be synced up to sync_interval later), and the
	// request is answered as soon as the head holds it.
	syncKey = "head.sync"
)

// errHeadFull is the retryable refusal of a tenant's request while its head
// is at headLimitPerTenant.
var errHeadFull = errors.New("alert records of this tenant wait for Kafka beyond the per-tenant limit; refused until Kafka takes some (retryable)")

// pushLogs puts one request's alert records at the end of their tenants'
// heads, on disk, and hands them to the senders. With the heads on disk the
// request is answered at once (the senders deliver the records, now or after
// a restart); otherwise (no storage, or the write failed) it waits until
// Kafka acknowledged them, or ctx ends (unacknowledged).
func (e *alertExporter) pushLogs(ctx context.Context, ld plog.Logs) error {
	return e.push(ctx, ld, false)
}

// pushLegacy takes the requests of an earlier release's sending queue (it
// drains once after an upgrade): never refused, the queue's consumer waits
// for room instead, as it always did.
func (e *alertExporter) pushLegacy(ctx context.Context, ld plog.Logs) error {
	return e.push(ctx, ld, true)
}

func (e *alertExporter) push(ctx context.Context, ld plog.Logs, legacy bool) error {
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
	groups := byTenant(recs)
	if !legacy {
		for _, g := range groups {
			if e.headLen(g[0].Tenant) >= headLimitPerTenant {
				e.refusedN.Add(ctx, int64(len(recs)), metric.WithAttributes(tenants.SelfMetricTenant(g[0].Tenant)))
				return fmt.Errorf("tenant %s: %w", g[0].Tenant, errHeadFull)
			}
		}
	}
	e.accepted.Add(ctx, int64(len(recs)))
	durable := true
	for _, g := range groups {
		if !e.admit(ctx, g[0].Tenant, g) {
			durable = false
		}
	}
	e.kickSenders()
	switch {
	case !durable:
		return e.waitDelivered(ctx, recs)
	case legacy:
		return e.waitForRoom(ctx, recs)
	}
	return nil
}

// byTenant splits recs by tenant, each group in order.
func byTenant(recs []*Record) [][]*Record {
	var groups [][]*Record
	at := map[string]int{}
	for _, r := range recs {
		i, ok := at[r.Tenant]
		if !ok {
			i = len(groups)
			at[r.Tenant] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], r)
	}
	return groups
}

func (e *alertExporter) headLen(tenant string) int {
	e.headMu.Lock()
	defer e.headMu.Unlock()
	if h := e.heads[tenant]; h != nil {
		return len(h.recs)
	}
	return 0
}

// admit appends a tenant's records that are neither acknowledged nor in its
// head to the head and stores it (synced); it reports whether the head on
// disk holds them.
func (e *alertExporter) admit(ctx context.Context, tenant string, recs []*Record) bool {
	e.headMu.Lock()
	h := e.headLocked(tenant)
	e.headMu.Unlock()
	h.writeMu.Lock()
	defer h.writeMu.Unlock()
	e.headMu.Lock()
	added := e.appendLocked(h, recs)
	need := added || !h.durable
	e.headMu.Unlock()
	if need {
		e.writeHeadHeld(ctx, tenant, h, true)
	}
	e.headMu.Lock()
	defer e.headMu.Unlock()
	return e.store != nil && h.durable
}

// waitForRoom returns once every tenant of recs has at most
// headLimitPerTenant records waiting, or the exporter stops, or ctx ends
// (the records are in the heads on disk either way).
func (e *alertExporter) waitForRoom(ctx context.Context, recs []*Record) error {
	for {
		e.headMu.Lock()
		full := false
		for _, r := range recs {
			if h := e.heads[r.Tenant]; h != nil && len(h.recs) > headLimitPerTenant {
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

// writeHead stores a tenant's head; sync makes the write reach the disk
// before it returns. It reports whether the head on disk is current.
func (e *alertExporter) writeHead(ctx context.Context, tenant string, sync bool) bool {
	e.headMu.Lock()
	h := e.headLocked(tenant)
	e.headMu.Unlock()
	h.writeMu.Lock()
	defer h.writeMu.Unlock()
	return e.writeHeadHeld(ctx, tenant, h, sync)
}

// writeHeadHeld stores h (h.writeMu held, headMu not): the value is taken
// under headMu and written outside it. On failure the head stays in memory,
// requests are answered only once delivered, and the next change writes it
// again.
func (e *alertExporter) writeHeadHeld(ctx context.Context, tenant string, h *tenantHead, sync bool) bool {
	e.headMu.Lock()
	st := e.store
	if st == nil {
		e.headMu.Unlock()
		return false
	}
	b, err := encodeHead(h.recs, h.sentLRU)
	ops := []*storage.Operation{storage.SetOperation(headKey(tenant), b)}
	if sync {
		e.syncSeq++
		ops = append(ops, storage.SetOperation(syncKey, []byte(strconv.FormatUint(e.syncSeq, 10))), storage.DeleteOperation(syncKey))
	}
	e.headMu.Unlock()
	if err == nil {
		err = e.indexTenant(ctx, st, tenant)
	}
	if err == nil {
		err = st.Batch(context.WithoutCancel(ctx), ops...)
	}
	e.headMu.Lock()
	defer e.headMu.Unlock()
	if err != nil {
		if h.durable {
			e.logger.Error("cannot store the alert records head of a tenant (storage client alerts_head); until it is stored, its requests wait for Kafka and a crash may reorder its alerts",
				zap.String("tenant", tenant), zap.Error(err))
		}
		h.durable = false
		return false
	}
	h.durable = true
	return true
}

// indexTenant adds tenant to the stored list of tenants with a head, once.
// The list is written before the tenant's first head write; that write's
// fsync covers it (one log per storage client).
func (e *alertExporter) indexTenant(ctx context.Context, st storage.Client, tenant string) error {
	e.indexMu.Lock()
	defer e.indexMu.Unlock()
	if e.indexed[tenant] {
		return nil
	}
	ids := make([]string, 0, len(e.indexed)+1)
	for t := range e.indexed {
		ids = append(ids, t)
	}
	ids = append(ids, tenant)
	slices.Sort(ids)
	b, err := json.Marshal(ids)
	if err == nil {
		err = st.Set(context.WithoutCancel(ctx), headTenantsKey, b)
	}
	if err != nil {
		return fmt.Errorf("cannot store the list of tenants with alert records (key %q): %w", headTenantsKey, err)
	}
	e.indexed[tenant] = true
	return nil
}

// kickSenders starts a sender for every tenant with records waiting and
// none running.
func (e *alertExporter) kickSenders() {
	e.headMu.Lock()
	defer e.headMu.Unlock()
	if e.stopped {
		return
	}
	for t, h := range e.heads {
		if h.sending || len(h.recs) == 0 {
			continue
		}
		h.sending = true
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
		h := e.heads[tenant]
		round := pickRound(h.recs)
		if len(round) == 0 || e.stopped {
			h.sending = false
			e.headMu.Unlock()
			return
		}
		e.headMu.Unlock()
		err := e.sendRound(tenant, round)
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

// pickRound is a tenant's next round: the longest prefix of its head
// without a repeated key, at most roundPerTenant records (headMu held).
func pickRound(head []*Record) []*Record {
	var round []*Record
	keys := map[string]struct{}{}
	for _, r := range head {
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
func (e *alertExporter) sendRound(tenant string, round []*Record) error {
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
	if len(acked) > 0 {
		e.headMu.Lock()
		e.removeLocked(tenant, acked)
		e.headMu.Unlock()
		e.writeHead(context.Background(), tenant, false)
	}
	e.headMu.Lock()
	e.lastSendErr = err
	close(e.roundDone)
	e.roundDone = make(chan struct{})
	e.headMu.Unlock()
	if err != nil {
		return fmt.Errorf("alert records not acknowledged by Kafka: %w", err)
	}
	return nil
}

// removeLocked takes a tenant's acknowledged records out of its head and
// remembers their keys (headMu held).
func (e *alertExporter) removeLocked(tenant string, acked []*Record) {
	h := e.heads[tenant]
	gone := make(map[*Record]struct{}, len(acked))
	for _, r := range acked {
		gone[r] = struct{}{}
		delete(e.inHead, r.dedupKey())
		h.remember(r.dedupKey())
	}
	kept := h.recs[:0]
	for _, r := range h.recs {
		if _, ok := gone[r]; !ok {
			kept = append(kept, r)
		}
	}
	clear(h.recs[len(kept):])
	h.recs = kept
}
