package kafkaalertexporter

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/scadaotel/scadaotel/connectors/errorfanoutconnector"
	"github.com/scadaotel/scadaotel/internal/recordio"
)

func headRecords(t *testing.T, n int) []*Record {
	t.Helper()
	var out []*Record
	for i := 1; i <= n; i++ {
		recs, _, err := recordsFromLogs(errorfanoutconnector.EventLogs(testEvent(i, "west-pipeline-01", "svc", "firing")), "")
		require.NoError(t, err)
		out = append(out, recs...)
	}
	return out
}

func recKeys(recs []*Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.dedupKey())
	}
	return out
}

// A damaged record of the stored head costs that record only; the old
// format (a JSON array) is still read.
func TestHeadDecodeSkipsDamage(t *testing.T) {
	recs := headRecords(t, 3)
	b, err := encodeHead(recs, []string{"a/firing", "b/resolved"})
	require.NoError(t, err)
	got, sent, damaged := decodeHead(b)
	assert.Equal(t, recKeys(recs), recKeys(got))
	assert.Equal(t, []string{"a/firing", "b/resolved"}, sent)
	assert.Empty(t, damaged)
	assert.Equal(t, recs[1].eventTime.UTC(), got[1].eventTime.UTC())

	frames, _ := recordio.ScanAll(b)
	require.Len(t, frames, 4)
	c := append([]byte(nil), b...)
	c[frames[2].Offset+recordio.HeaderSize+5] ^= 1 // the second record
	got, sent, damaged = decodeHead(c)
	assert.Equal(t, recKeys([]*Record{recs[0], recs[2]}), recKeys(got))
	assert.Len(t, sent, 2)
	assert.Len(t, damaged, 1)

	c = append([]byte(nil), b...)
	c[frames[0].Offset+recordio.HeaderSize+2] ^= 1 // the sent keys
	got, sent, damaged = decodeHead(c)
	assert.Equal(t, recKeys(recs), recKeys(got))
	assert.Empty(t, sent)
	assert.Len(t, damaged, 1)

	got, _, damaged = decodeHead(b[:frames[3].Offset+7]) // torn last record
	assert.Equal(t, recKeys(recs[:2]), recKeys(got))
	assert.Len(t, damaged, 1)

	// Format 1.
	var v1 []savedRecord
	for _, r := range recs {
		v1 = append(v1, savedRecord{Record: *r, EventTime: r.eventTime})
	}
	old, err := json.Marshal(v1)
	require.NoError(t, err)
	got, _, damaged = decodeHead(old)
	assert.Equal(t, recKeys(recs), recKeys(got))
	assert.Empty(t, damaged)
	got, _, damaged = decodeHead(old[:len(old)/2])
	assert.Empty(t, got)
	assert.Equal(t, []recordio.Damage{{Start: 0, End: int64(len(old) / 2)}}, damaged)
}

// At start a damaged head is copied aside under head.damaged-<unix>
// (named in the error log), and what could be read is used.
func TestHeadDamagedAtStartKeptAside(t *testing.T) {
	ctx := context.Background()
	_, st := startStorage(t, t.TempDir())
	defer func() { require.NoError(t, st.Shutdown(ctx)) }()
	cl, err := st.(storage.Extension).GetClient(ctx, component.KindExporter, component.NewID(componentType), "alerts_head")
	require.NoError(t, err)
	defer cl.Close(ctx)
	recs := headRecords(t, 2)
	b, err := encodeHead(recs, nil)
	require.NoError(t, err)
	b[3] = 'X' // the first record's magic
	require.NoError(t, cl.Set(ctx, headKey("west-pipeline-01"), b))

	core, logs := observer.New(zap.ErrorLevel)
	got, _, damaged, err := loadHead(ctx, cl, headKey("west-pipeline-01"), zap.New(core))
	require.NoError(t, err)
	assert.Equal(t, 1, damaged)
	assert.Equal(t, recKeys(recs[1:]), recKeys(got))
	require.Equal(t, 1, logs.Len())
	f := logs.All()[0].ContextMap()
	assert.EqualValues(t, 0, f["from_byte"])
	copyKey, _ := f["copy_key"].(string)
	require.NotEmpty(t, copyKey)
	kept, err := cl.Get(ctx, copyKey)
	require.NoError(t, err)
	assert.Equal(t, b, kept, "the damaged value is kept, byte for byte")
}

// The connector re-sends events it could not mark as delivered before a
// restart, and after a crash the queue re-delivers a request Kafka already
// acknowledged. The acknowledged keys survive the restart in the head, so
// neither reaches Kafka twice.
func TestAcknowledgedRecordsRememberedAcrossRestart(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "scada.alerts"))
	require.NoError(t, err)
	defer c.Close()
	ctx := context.Background()
	qdir := t.TempDir()
	read := func(n int) []string {
		var got []string
		for _, m := range consumeAll(t, c.ListenAddrs(), "scada.alerts", n, 10*time.Second) {
			var rec Record
			require.NoError(t, json.Unmarshal(m.Value, &rec))
			got = append(got, rec.dedupKey())
		}
		return got
	}
	// run starts the exporter on the queue's storage, queues alerts ids and
	// stops once Kafka holds total records.
	run := func(total int, ids ...int) {
		storageID, st := startStorage(t, qdir)
		exp := newExporter(t, crashConfig(c.ListenAddrs()[0], storageID), host{ext: map[component.ID]component.Component{storageID: st}})
		for _, i := range ids {
			require.NoError(t, exp.ConsumeLogs(ctx, errorfanoutconnector.EventLogs(testEvent(i, "west-pipeline-01", "svc", "firing"))))
		}
		require.Len(t, read(total), total)
		require.NoError(t, exp.Shutdown(ctx))
		require.NoError(t, st.Shutdown(ctx))
	}
	run(2, 1, 2)
	run(4, 3, 2, 1, 4) // two late copies between new records
	got := read(4)
	assert.Equal(t, recKeys(headRecords(t, 4)), got, "once each, in order")
}
