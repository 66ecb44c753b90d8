package kafkaalertexporter

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/exporter/exportertest"

	"github.com/scadaotel/scadaotel/connectors/errorfanoutconnector"
)

// recordingProducer acknowledges every message except those of failKeys and
// records each SendMessages call's keys and dedupe keys.
type recordingProducer struct {
	sarama.SyncProducer
	mu       sync.Mutex
	failKeys map[string]bool
	rounds   [][]string // per call: "<tenant>/<service>:<alert_id>/<state>"
}

func (p *recordingProducer) SendMessages(msgs []*sarama.ProducerMessage) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var round []string
	var errs sarama.ProducerErrors
	for _, m := range msgs {
		k, _ := m.Key.Encode()
		if p.failKeys[string(k)] {
			errs = append(errs, &sarama.ProducerError{Msg: m, Err: sarama.ErrNotEnoughReplicas})
			continue
		}
		round = append(round, string(k))
	}
	p.rounds = append(p.rounds, round)
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func (p *recordingProducer) Close() error { return nil }

func records(t *testing.T, evs ...*errorfanoutconnector.Event) []*Record {
	t.Helper()
	recs, _, err := recordsFromLogs(errorfanoutconnector.EventsLogs(evs), "")
	require.NoError(t, err)
	return recs
}

// pick is a tenant's next round.
func pick(e *alertExporter, tenant string) []*Record {
	e.headMu.Lock()
	defer e.headMu.Unlock()
	if h := e.heads[tenant]; h != nil {
		return pickRound(h.recs)
	}
	return nil
}

// Issue 19, point 3: tenant A's 600 undelivered records do not stand in
// front of tenant B's one: B's round holds only B's record (each tenant has
// its own sender), A's leave in their order, at most 256 per round, in a few
// SendMessages calls (on main: one send per record, in one global order,
// B's the 601st).
func TestHeadsRoundRobinBetweenTenants(t *testing.T) {
	e, err := newAlertExporter(createDefaultConfig().(*Config), exportertest.NewNopSettings(componentType), "alerts")
	require.NoError(t, err)
	defer func() { require.NoError(t, e.shutdown(context.Background())) }()
	p := &recordingProducer{}
	e.prod = p
	var evs []*errorfanoutconnector.Event
	for i := 0; i < 600; i++ {
		evs = append(evs, testEvent(i+1, "west-pipeline-01", fmt.Sprintf("a-%03d", i), errorfanoutconnector.StateFiring))
	}
	e.admit(context.Background(), "west-pipeline-01", records(t, evs...))
	e.admit(context.Background(), "east-pipeline-02", records(t, testEvent(1000, "east-pipeline-02", "plc-gateway", errorfanoutconnector.StateFiring)))

	// B's round holds B's record only: it never waits for A's rounds.
	roundB := pick(e, "east-pipeline-02")
	roundA := pick(e, "west-pipeline-01")
	require.Len(t, roundB, 1)
	assert.Len(t, roundA, roundPerTenant, "one round of A is bounded")
	require.NoError(t, e.sendRound("east-pipeline-02", roundB))
	for {
		round := pick(e, "west-pipeline-01")
		if len(round) == 0 {
			break
		}
		require.NoError(t, e.sendRound("west-pipeline-01", round))
	}
	require.NotEmpty(t, p.rounds)
	assert.Equal(t, []string{"east-pipeline-02/plc-gateway"}, p.rounds[0])
	var aOrder []string
	for _, r := range p.rounds {
		n := 0
		for _, k := range r {
			if k != "east-pipeline-02/plc-gateway" {
				aOrder = append(aOrder, k)
				n++
			}
		}
		assert.LessOrEqual(t, n, roundPerTenant)
	}
	require.Len(t, aOrder, 600)
	for i, k := range aOrder {
		assert.Equal(t, fmt.Sprintf("west-pipeline-01/a-%03d", i), k, "A's records in order")
	}
	assert.Len(t, p.rounds, 4, "B's round, then A's 600 records in three rounds of at most 256")
	n, _ := e.inFlight()
	assert.Zero(t, n)
}

// A key's next record is never in the same round as its previous one, and
// after a failed record, records of the same key wait while other keys go on.
func TestRoundKeepsKeyOrder(t *testing.T) {
	e, err := newAlertExporter(createDefaultConfig().(*Config), exportertest.NewNopSettings(componentType), "alerts")
	require.NoError(t, err)
	defer func() { require.NoError(t, e.shutdown(context.Background())) }()
	p := &recordingProducer{failKeys: map[string]bool{"t/x": true}}
	e.prod = p
	e.admit(context.Background(), "t", records(t,
		testEvent(1, "t", "x", errorfanoutconnector.StateFiring),
		testEvent(2, "t", "y", errorfanoutconnector.StateFiring),
		testEvent(1, "t", "x", errorfanoutconnector.StateResolved),
		testEvent(3, "t", "z", errorfanoutconnector.StateFiring)))
	round := pick(e, "t")
	require.Len(t, round, 2, "the prefix up to x's second record")
	require.Error(t, e.sendRound("t", round), "x refused")
	assert.Equal(t, [][]string{{"t/y"}}, p.rounds)

	p.failKeys = nil
	e.prod = p
	for {
		round := pick(e, "t")
		if len(round) == 0 {
			break
		}
		require.NoError(t, e.sendRound("t", round))
	}
	assert.Equal(t, [][]string{{"t/y"}, {"t/x"}, {"t/x", "t/z"}}, p.rounds, "x firing before x resolved; z after")
}
