package vmexporter

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/scadaotel/scadaotel/internal/vmstore"
	"github.com/scadaotel/scadaotel/tenants"
)

// recordBatch is one WAL record of `samples` samples of the series
// wal_rec{rec="<id>"} of tenant acme, so replayed records can be counted per id.
func recordBatch(t testing.TB, conv *converter, id, samples int) []byte {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	tenants.SetOnResource(rm.Resource(), "acme")
	g := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	g.SetName("wal_rec")
	dps := g.SetEmptyGauge().DataPoints()
	for i := 0; i < samples; i++ {
		dp := dps.AppendEmpty()
		dp.SetTimestamp(ts(time.Duration(i) * time.Second))
		dp.SetDoubleValue(float64(id))
		dp.Attributes().PutStr("rec", fmt.Sprint(id))
	}
	var b batch
	require.NoError(t, conv.convert(md, &b))
	return append([]byte(nil), b.payload...)
}

// segment builds a format-2 segment of n records and returns it with each
// record's byte range.
func segment(t testing.TB, conv *converter, firstID, n, samples int) ([]byte, []byteSpan) {
	data := []byte(segmentHeader)
	var spans []byteSpan
	for i := 0; i < n; i++ {
		from := len(data)
		data = appendRecord(data, recordBatch(t, conv, firstID+i, samples))
		spans = append(spans, byteSpan{int64(from), int64(len(data))})
	}
	return data, spans
}

// replayedIDs scans data and returns the record ids it replays, with their
// sample counts.
func replayedIDs(t testing.TB, data []byte) (map[int]int, segmentScan) {
	got := map[int]int{}
	res, err := scanSegment(data, func(p []byte) error {
		rows, err := decodeRecord(p, nil)
		require.NoError(t, err)
		for _, r := range rows {
			got[int(r.Value)]++
		}
		return nil
	})
	require.NoError(t, err)
	return got, res
}

func checkCoverage(t testing.TB, data []byte, res segmentScan) {
	total := res.Good
	prev := int64(0)
	for _, d := range res.Damaged {
		if d.From < prev || d.To <= d.From || d.To > int64(len(data)) {
			t.Fatalf("bad damaged span %+v (previous end %d, size %d)", d, prev, len(data))
		}
		prev = d.To
		total += d.Len()
	}
	if res.Torn != nil {
		if res.Torn.From < prev || res.Torn.To != int64(len(data)) {
			t.Fatalf("bad torn span %+v, size %d", *res.Torn, len(data))
		}
		total += res.Torn.Len()
	}
	if total != int64(len(data)) {
		t.Fatalf("header+records %d + damaged + torn = %d bytes, segment has %d", res.Good, total, len(data))
	}
}

func TestWALDamageAtSeveralOffsetsKeepsEveryIntactRecord(t *testing.T) {
	conv, err := newConverter(createDefaultConfig().(*Config))
	require.NoError(t, err)
	const n, samples = 40, 25
	clean, spans := segment(t, conv, 0, n, samples)
	size := len(clean)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct {
		name   string
		offset int
		zeros  bool
	}{
		{"start", 0, false},
		{"start_zeros", 0, true},
		{"inside_first_header", 10, false},
		{"middle", size / 2, false},
		{"middle_zeros", size / 2, true},
		{"record_boundary", int(spans[n/3].From) - 20, false},
		{"payload_only", int(spans[7].From) + recordHeaderSize + 10, false},
		{"end", size - 64, false},
		{"end_zeros", size - 64, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			data := append([]byte(nil), clean...)
			bad := byteSpan{int64(c.offset), int64(c.offset + 64)}
			for i := c.offset; i < c.offset+64; i++ {
				if c.zeros {
					data[i] = 0
				} else {
					data[i] = byte(rng.Uint32())
				}
			}
			got, res := replayedIDs(t, data)
			checkCoverage(t, data, res)
			want := 0
			for i, s := range spans {
				if s.To <= bad.From || s.From >= bad.To {
					want++
					assert.Equal(t, samples, got[i], "record %d %v lies outside the damage %v and must be replayed whole", i, s, bad)
				}
			}
			assert.Equal(t, want, res.Records)
			assert.Nil(t, res.Torn, "overwritten bytes are damage, never a torn tail")
			require.NotEmpty(t, res.Damaged)
			// Every changed byte is inside a reported damaged span.
			for i := bad.From; i < bad.To; i++ {
				if data[i] == clean[i] {
					continue
				}
				in := false
				for _, d := range res.Damaged {
					in = in || d.From <= i && i < d.To
				}
				require.True(t, in, "changed byte %d not in the reported damage %v", i, res.Damaged)
			}
			t.Logf("overwrite %v: %d of %d records replayed, damage %v", bad, res.Records, n, res.Damaged)
		})
	}
}

func TestWALTornTailIsNotDamage(t *testing.T) {
	conv, err := newConverter(createDefaultConfig().(*Config))
	require.NoError(t, err)
	data, _ := segment(t, conv, 0, 5, 10)
	next := appendRecord(nil, recordBatch(t, conv, 99, 10))
	for _, cut := range []int{1, 3, recordHeaderSize - 1, recordHeaderSize, recordHeaderSize + 7, len(next) - 1} {
		torn := append(append([]byte(nil), data...), next[:cut]...)
		got, res := replayedIDs(t, torn)
		checkCoverage(t, torn, res)
		require.NotNil(t, res.Torn, "cut at %d", cut)
		assert.Empty(t, res.Damaged, "cut at %d", cut)
		assert.Equal(t, 5, res.Records)
		assert.Len(t, got, 5)
	}
	// A header-only file (crash right after creating the segment).
	_, res := replayedIDs(t, []byte(segmentHeader[:5]))
	require.NotNil(t, res.Torn)
}

func TestWALReadsFormat1Segments(t *testing.T) {
	conv, err := newConverter(createDefaultConfig().(*Config))
	require.NoError(t, err)
	var data []byte
	for i := 0; i < 3; i++ {
		p := recordBatch(t, conv, i, 4)
		data = binary.LittleEndian.AppendUint32(data, uint32(len(p)))
		data = binary.LittleEndian.AppendUint32(data, crc32.Checksum(p, crcTable))
		data = append(data, p...)
	}
	got, res := replayedIDs(t, data)
	checkCoverage(t, data, res)
	assert.Equal(t, 1, res.Format)
	assert.Equal(t, map[int]int{0: 4, 1: 4, 2: 4}, got)
	assert.Nil(t, res.Torn)
	// A torn format-1 tail, as the old writer left it after kill -9.
	got, res = replayedIDs(t, append(data, 200, 0, 0, 0, 1, 2, 3))
	assert.Len(t, got, 3)
	assert.NotNil(t, res.Torn)
}

// FuzzWALReplay: no input makes the segment reader panic, and every byte is
// accounted for exactly once (header and records, damage, torn tail).
func FuzzWALReplay(f *testing.F) {
	conv, err := newConverter(createDefaultConfig().(*Config))
	if err != nil {
		f.Fatal(err)
	}
	seg, spans := segment(f, conv, 0, 4, 3)
	f.Add([]byte{})
	f.Add([]byte(segmentHeader))
	f.Add(seg)
	f.Add(seg[:len(seg)-5])
	damaged := append([]byte(nil), seg...)
	copy(damaged[spans[1].From+3:], "garbage!")
	f.Add(damaged)
	f.Add(seg[len(segmentHeader):]) // header lost
	f.Add(append(appendRecord([]byte(segmentHeader), []byte("not rows")), magicBytes...))
	f.Add([]byte{5, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5}) // format 1, bad checksum
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := scanSegment(data, func(p []byte) error {
			_, _ = decodeRecord(p, nil) // must not panic either
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		checkCoverage(t, data, res)
	})
}

// telemetry gives exporter settings whose logs and self-metrics a test reads.
func telemetry(t *testing.T) (exporter.Settings, *observer.ObservedLogs, *sdkmetric.ManualReader) {
	core, logs := observer.New(zapcore.InfoLevel)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	set := exportertest.NewNopSettings(component.MustNewType(typeStr))
	set.Logger = zap.New(core)
	set.MeterProvider = mp
	return set, logs, reader
}

// counter returns the sum of an Int64 counter (or the last value of an
// Int64 gauge).
func counter(t *testing.T, reader *sdkmetric.ManualReader, name string) int64 {
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			var n int64
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					n += p.Value
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					n = p.Value
				}
			}
			return n
		}
	}
	return 0
}

func TestReplayRecoversPastDamageInSeveralSegments(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	conv, err := newConverter(cfg)
	require.NoError(t, err)
	walDir := filepath.Join(dir, "wal")
	require.NoError(t, os.MkdirAll(walDir, 0o750))

	// Four segments of a previous run, 20 records of 50 samples each: 1
	// damaged in the middle, 2 at its start, 3 intact, 4 (the last) damaged
	// at its end and then cut mid-record. Segment 0 is a directory: it
	// cannot be read at all.
	const perSeg, samples = 20, 50
	want := map[int]bool{}
	var damagedBytes int64
	for s := 1; s <= 4; s++ {
		data, spans := segment(t, conv, s*100, perSeg, samples)
		var bad byteSpan
		switch s {
		case 1:
			bad = byteSpan{int64(len(data) / 2), int64(len(data)/2 + 64)}
		case 2:
			bad = byteSpan{0, 64}
		case 4:
			bad = byteSpan{int64(len(data) - 200), int64(len(data) - 136)}
		}
		for i := bad.From; i < bad.To; i++ {
			data[i] ^= 0x5a
		}
		for i, sp := range spans {
			if bad.Len() == 0 || sp.To <= bad.From || sp.From >= bad.To {
				want[s*100+i] = true
			}
		}
		if s == 4 {
			data = append(data, appendRecord(nil, recordBatch(t, conv, 999, samples))[:40]...)
		}
		require.NoError(t, os.WriteFile(filepath.Join(walDir, segmentName(uint64(s))), data, 0o640))
	}
	require.NoError(t, os.Mkdir(filepath.Join(walDir, segmentName(0)), 0o750))

	set, logs, reader := telemetry(t)
	exp, err := NewFactory().CreateMetrics(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()), "damage never stops the exporter")
	defer func() { require.NoError(t, exp.Shutdown(context.Background())) }()

	st := vmstore.Current()
	res, err := st.QueryInstant("acme", `count_over_time(wal_rec[2h])`, t0.Add(time.Hour))
	require.NoError(t, err)
	got := map[int]bool{}
	for _, r := range res {
		var id int
		_, err := fmt.Sscan(r.Labels["rec"], &id)
		require.NoError(t, err)
		assert.Equal(t, float64(samples), r.Values[0], "record %d replayed whole", id)
		got[id] = true
	}
	assert.Equal(t, want, got, "every record outside the damage is replayed, nothing else")
	assert.Equal(t, int64(len(want)*samples), counter(t, reader, MetricWALReplayedSamples))
	t.Logf("%d of %d records replayed", len(got), 4*perSeg)

	// Damage: logged at error level with file and byte range; segments 1,
	// 2, 4 (damaged) and 5 (unreadable) kept aside, none left to replay.
	var ranges int
	for _, e := range logs.FilterLevelExact(zapcore.ErrorLevel).All() {
		if strings.HasPrefix(e.Message, "WAL damage") {
			ranges++
			f := e.ContextMap()
			assert.Contains(t, f["file"], walDir)
			assert.Less(t, f["from_byte"], f["to_byte"])
			damagedBytes += f["bytes"].(int64)
		}
	}
	assert.GreaterOrEqual(t, ranges, 3, "at least one damaged range per damaged segment")
	assert.Equal(t, int64(ranges), counter(t, reader, MetricWALDamagedRegions))
	assert.GreaterOrEqual(t, counter(t, reader, MetricWALDamagedBytes), damagedBytes)
	assert.Equal(t, int64(4), counter(t, reader, MetricWALDamagedSegments))
	assert.Equal(t, int64(1), counter(t, reader, MetricWALTornTails))
	assert.Equal(t, int64(40), counter(t, reader, MetricWALTornBytes))
	assert.Len(t, logs.FilterMessageSnippet("cannot be read").All(), 1)
	assert.Len(t, logs.FilterMessageSnippet("incomplete record").FilterLevelExact(zapcore.WarnLevel).All(), 1)
	aside, err := filepath.Glob(filepath.Join(walDir, "*.damaged-*"))
	require.NoError(t, err)
	assert.Len(t, aside, 4)
	left, err := listSegments(walDir)
	require.NoError(t, err)
	assert.Len(t, left, 1, "only the new segment")

	// The log takes new data after all that.
	require.NoError(t, exp.ConsumeMetrics(context.Background(), fixture("acme", 1)))
}

// TestWALWriteErrorDoesNotWedgeTheLog: a failed write (ENOSPC from
// /dev/full) fails only its batch; the segment cannot be cut back (a device
// does not truncate) so the next write starts a new segment, and everything
// acknowledged is replayed intact.
func TestWALWriteErrorDoesNotWedgeTheLog(t *testing.T) {
	w, _, err := openWAL(t.TempDir())
	require.NoError(t, err)
	var writeErrs int
	w.onWriteError = func(error) { writeErrs++ }
	require.NoError(t, w.Append([]byte("one")))
	good := w.f
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("no /dev/full to produce ENOSPC: %v", err)
	}
	w.f = full
	err = w.Append([]byte("lost"))
	require.ErrorContains(t, err, "no space left on device")
	assert.Equal(t, 1, writeErrs)
	require.NoError(t, good.Close())
	require.NoError(t, w.Append([]byte("two")), "the log accepts writes again")
	require.NoError(t, w.Append([]byte("three")))
	require.NoError(t, w.Close())
	seqs, err := listSegments(w.dir)
	require.NoError(t, err)
	require.Len(t, seqs, 2, "a new segment after the one that could not be cut back")
	var got []string
	for _, s := range seqs {
		res, err := readSegment(filepath.Join(w.dir, segmentName(s)), func(p []byte) error { got = append(got, string(p)); return nil })
		require.NoError(t, err)
		assert.Empty(t, res.Damaged)
		assert.Nil(t, res.Torn)
	}
	assert.Equal(t, []string{"one", "two", "three"}, got)
}

// TestTornTailBeforeEmptySegmentsIsStillTorn: a crash mid-write, then a
// start that opened a fresh segment and crashed again before replaying; the
// torn tail is still the benign case, not damage.
func TestTornTailBeforeEmptySegmentsIsStillTorn(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	conv, err := newConverter(cfg)
	require.NoError(t, err)
	walDir := filepath.Join(dir, "wal")
	require.NoError(t, os.MkdirAll(walDir, 0o750))
	data, _ := segment(t, conv, 0, 3, 5)
	data = append(data, appendRecord(nil, recordBatch(t, conv, 9, 5))[:30]...)
	require.NoError(t, os.WriteFile(filepath.Join(walDir, segmentName(1)), data, 0o640))
	require.NoError(t, os.WriteFile(filepath.Join(walDir, segmentName(2)), []byte(segmentHeader), 0o640))
	require.NoError(t, os.WriteFile(filepath.Join(walDir, segmentName(3)), nil, 0o640))

	set, logs, reader := telemetry(t)
	exp, err := NewFactory().CreateMetrics(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, exp.Shutdown(context.Background())) }()
	assert.Equal(t, int64(1), counter(t, reader, MetricWALTornTails))
	assert.Zero(t, counter(t, reader, MetricWALDamagedRegions))
	assert.Empty(t, logs.FilterLevelExact(zapcore.ErrorLevel).All())
	assert.Equal(t, int64(15), counter(t, reader, MetricWALReplayedSamples))
}
