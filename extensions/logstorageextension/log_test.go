package logstorageextension

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"

	"github.com/scadaotel/scadaotel/internal/diskreserve"
	"github.com/scadaotel/scadaotel/internal/recordio"
)

func testOpts() logOptions {
	return logOptions{segmentBytes: 1 << 20, syncInterval: 10 * time.Millisecond, compactBelow: 0.25}
}

func mustOpen(t *testing.T, dir string, o logOptions) *segLog {
	t.Helper()
	l, err := openLog(dir, o, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func newClient(l *segLog) *client {
	return &client{log: l, guard: diskreserve.New(l.dir, diskreserve.Config{Bytes: 1}), onFull: func(error) {}}
}

func itemKey(i int) string { return fmt.Sprintf("%d", i) }

func TestSetGetDeleteSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	l := mustOpen(t, dir, testOpts())
	c := newClient(l)
	big := make([]byte, 5000)
	big[4999] = 7
	if err := c.Batch(ctx, storage.SetOperation("qmd", []byte("meta-1")), storage.SetOperation("0", big)); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "1", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "qmd", []byte("meta-2")); err != nil {
		t.Fatal(err)
	}
	get := storage.GetOperation("0")
	if err := c.Batch(ctx, storage.SetOperation("qmd", []byte("meta-3")), get); err != nil || len(get.Value) != 5000 || get.Value[4999] != 7 {
		t.Fatalf("mixed batch: %v %d", err, len(get.Value))
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	c = newClient(mustOpen(t, dir, testOpts()))
	defer c.Close(ctx)
	for key, want := range map[string]string{"qmd": "meta-3", "1": ""} {
		v, err := c.Get(ctx, key)
		if err != nil || string(v) != want {
			t.Errorf("%s = %q %v, want %q", key, v, err, want)
		}
	}
	if v, _ := c.Get(ctx, "0"); len(v) != 5000 || v[4999] != 7 {
		t.Errorf("big value after restart: %d bytes", len(v))
	}
}

// Group commit: N concurrent puts of new keys share far fewer than N fsyncs,
// and none returns before an fsync that covers its own bytes.
func TestGroupCommitSharesFsyncsAndCoversEachCaller(t *testing.T) {
	dir := t.TempDir()
	var fsyncs atomic.Int64
	var l *segLog
	var durable atomic.Int64 // logical position the last fsync covered
	o := testOpts()
	o.syncInterval = time.Hour
	o.fsync = func(f *os.File) error {
		fsyncs.Add(1)
		time.Sleep(2 * time.Millisecond) // a real disk's fsync
		return defaultFsync(f)
	}
	l = mustOpen(t, dir, o)
	defer l.close()
	base := fsyncs.Load()
	const writers, each = 16, 25
	var wg sync.WaitGroup
	var failures atomic.Int64
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				key := itemKey(w*each + i)
				if err := l.appendOps([]op{{typ: opSet, key: "meta", value: []byte(key)}, {typ: opSet, key: key, value: make([]byte, 300)}}, true, nil); err != nil {
					failures.Add(1)
					return
				}
				// After return, l.synced (set after the fsync) covers this write.
				l.mu.Lock()
				loc := l.index[key]
				l.mu.Unlock()
				end := loc.seg.base + loc.off + int64(loc.n)
				l.syncMu.Lock()
				covered := l.synced
				l.syncMu.Unlock()
				if covered < end {
					failures.Add(1)
				}
				durable.Store(covered)
			}
		}()
	}
	wg.Wait()
	if failures.Load() > 0 {
		t.Fatalf("%d writes returned before an fsync covered them", failures.Load())
	}
	n := fsyncs.Load() - base
	if n >= writers*each/2 {
		t.Fatalf("%d fsyncs for %d puts: group commit is not sharing", n, writers*each)
	}
	t.Logf("%d puts, %d fsyncs", writers*each, n)
}

// Overwrites and deletes (cursor moves) return without an fsync; the
// periodic sync makes them durable.
func TestOverwritesAndDeletesDoNotWaitForFsync(t *testing.T) {
	var fsyncs atomic.Int64
	o := testOpts()
	o.syncInterval = time.Hour
	o.fsync = func(f *os.File) error { fsyncs.Add(1); return defaultFsync(f) }
	l := mustOpen(t, t.TempDir(), o)
	defer l.close()
	c := newClient(l)
	ctx := context.Background()
	if err := c.Set(ctx, "meta", []byte("a")); err != nil {
		t.Fatal(err)
	}
	before := fsyncs.Load()
	for i := range 100 {
		if err := c.Set(ctx, "meta", []byte(itemKey(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Delete(ctx, "meta"); err != nil {
		t.Fatal(err)
	}
	if got := fsyncs.Load() - before; got != 0 {
		t.Fatalf("%d fsyncs for overwrites and a delete", got)
	}
	l.mu.Lock()
	pos := l.appended
	l.mu.Unlock()
	if err := l.syncTo(pos); err != nil || fsyncs.Load()-before != 1 {
		t.Fatalf("one sync for all: %v %d", err, fsyncs.Load()-before)
	}
}

func writeRecords(t *testing.T, dir string, n int) {
	t.Helper()
	l := mustOpen(t, dir, testOpts())
	c := newClient(l)
	for i := range n {
		if err := c.Batch(context.Background(), storage.SetOperation("meta", []byte(itemKey(i))), storage.SetOperation(itemKey(i), make([]byte, 100+i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.close(); err != nil {
		t.Fatal(err)
	}
}

func onlySegment(t *testing.T, dir string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "seg-*.log"))
	var nonEmpty []string
	for _, p := range m {
		if st, _ := os.Stat(p); st.Size() > 0 {
			nonEmpty = append(nonEmpty, p)
		}
	}
	if len(nonEmpty) != 1 {
		t.Fatalf("segments %v", nonEmpty)
	}
	return nonEmpty[0]
}

// A crash in the middle of the last write: cut the segment at every byte of
// its last record; the log opens every time and keeps every earlier record.
func TestTornTailAtEveryOffsetOfTheLastRecord(t *testing.T) {
	src := t.TempDir()
	writeRecords(t, src, 20)
	seg := onlySegment(t, src)
	full, _ := os.ReadFile(seg)
	var lastStart int64
	_ = recordio.Scan(full, func(off int64, _ []byte) error { lastStart = off; return nil }, nil)
	for cut := lastStart; cut < int64(len(full)); cut++ {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(seg)), full[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		l, err := openLog(dir, testOpts(), zap.NewNop())
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		for i := range 19 {
			if v, _ := l.get(itemKey(i)); len(v) != 100+i {
				t.Fatalf("cut at %d: record %d lost", cut, i)
			}
		}
		if v, _ := l.get("19"); v != nil {
			t.Fatalf("cut at %d: the torn record was kept", cut)
		}
		if m, _ := l.get("meta"); string(m) != "18" {
			t.Fatalf("cut at %d: meta %q, want the last whole record's", cut, m)
		}
		if cut > lastStart && l.stats.tornBytes.Load() != cut-lastStart {
			t.Fatalf("cut at %d: torn bytes %d", cut, l.stats.tornBytes.Load())
		}
		// And the log accepts writes again, on a clean record boundary.
		if err := l.appendOps([]op{{typ: opSet, key: "after", value: []byte("x")}}, true, nil); err != nil {
			t.Fatal(err)
		}
		l.close()
		l2 := mustOpen(t, dir, testOpts())
		if v, _ := l2.get("after"); string(v) != "x" {
			t.Fatalf("cut at %d: write after recovery lost", cut)
		}
		l2.close()
	}
}

// Damage in the middle of a segment loses only the records it touches.
func TestDamageInTheMiddleKeepsEverythingElse(t *testing.T) {
	dir := t.TempDir()
	writeRecords(t, dir, 50)
	seg := onlySegment(t, dir)
	b, _ := os.ReadFile(seg)
	copy(b[len(b)/2:], bytes.Repeat([]byte{0xA5}, 64)) // 64 bytes overwritten mid-segment
	if err := os.WriteFile(seg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	l := mustOpen(t, dir, testOpts())
	defer l.close()
	lost := 0
	for i := range 50 {
		if v, _ := l.get(itemKey(i)); len(v) != 100+i {
			lost++
		}
	}
	if lost == 0 || lost > 2 {
		t.Fatalf("%d records lost to 64 damaged bytes, want 1 or 2", lost)
	}
	if v, _ := l.get("49"); len(v) != 149 {
		t.Fatal("records after the damage were not kept")
	}
	if l.stats.damagedBytes.Load() == 0 {
		t.Fatal("damage not counted")
	}
}

func TestUnreadableSegmentIsMovedAside(t *testing.T) {
	dir := t.TempDir()
	writeRecords(t, dir, 5)
	seg := onlySegment(t, dir)
	// A directory where a segment file should be: ReadFile fails.
	bad := filepath.Join(dir, "seg-00000000000000ff.log")
	if err := os.Mkdir(bad, 0o700); err != nil {
		t.Fatal(err)
	}
	l := mustOpen(t, dir, testOpts())
	defer l.close()
	if v, _ := l.get("4"); len(v) != 104 {
		t.Fatal("good segment not replayed")
	}
	if m, _ := filepath.Glob(bad + ".damaged-*"); len(m) != 1 {
		t.Fatalf("unreadable segment not moved aside: %v", m)
	}
	_ = seg
}

// A queue-like workload (put, read cursor, delete) over many segments keeps
// the files within a small factor of the live data.
func TestSpaceIsReclaimed(t *testing.T) {
	o := testOpts()
	o.segmentBytes = 1 << 20
	l := mustOpen(t, t.TempDir(), o)
	defer l.close()
	c := newClient(l)
	ctx := context.Background()
	val := make([]byte, 4000)
	for i := range 5000 {
		if err := c.Batch(ctx, storage.SetOperation("meta", []byte(itemKey(i))), storage.SetOperation(itemKey(i), val)); err != nil {
			t.Fatal(err)
		}
		if i >= 50 { // 50 items stay queued
			if err := c.Batch(ctx, storage.SetOperation("meta", []byte(itemKey(i))), storage.DeleteOperation(itemKey(i-50))); err != nil {
				t.Fatal(err)
			}
		}
		if i%500 == 0 {
			if err := l.reclaim(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := l.reclaim(); err != nil {
		t.Fatal(err)
	}
	live, disk, segs := l.sizes()
	if disk > 4*(1<<20)+4*live {
		t.Fatalf("%d bytes on disk in %d segments for %d live bytes", disk, segs, live)
	}
	t.Logf("live %d, disk %d, %d segments, %d compactions", live, disk, segs, l.stats.compactions.Load())
	for i := 4950; i < 5000; i++ {
		if v, _ := c.Get(ctx, itemKey(i)); len(v) != 4000 {
			t.Fatalf("live item %d lost by compaction", i)
		}
	}
	if v, _ := c.Get(ctx, "10"); v != nil {
		t.Fatal("deleted item resurrected")
	}
}

func TestNewItemsRefusedInsideTheReserveCursorMovesNot(t *testing.T) {
	l := mustOpen(t, t.TempDir(), testOpts())
	defer l.close()
	c := newClient(l)
	ctx := context.Background()
	if err := c.Set(ctx, "meta", []byte("a")); err != nil {
		t.Fatal(err)
	}
	var reported []error
	c.guard = diskreserve.New(l.dir, diskreserve.Config{Bytes: 1 << 62})
	c.onFull = func(err error) { reported = append(reported, err) }
	err := c.Batch(ctx, storage.SetOperation("meta", []byte("b")), storage.SetOperation("item-1", []byte("x")))
	if !errors.Is(err, storage.ErrStorageFull) || !errors.Is(err, diskreserve.ErrFull) {
		t.Fatalf("new item on a full volume: %v", err)
	}
	if err := c.Batch(ctx, storage.SetOperation("meta", []byte("c")), storage.DeleteOperation("item-0")); err != nil {
		t.Fatalf("cursor move on a full volume: %v", err)
	}
	if len(reported) != 1 || reported[0] == nil {
		t.Fatalf("full not reported: %v", reported)
	}
	c.guard = diskreserve.New(l.dir, diskreserve.Config{Bytes: 1})
	if err := c.Set(ctx, "item-1", []byte("x")); err != nil {
		t.Fatalf("space back: %v", err)
	}
	if reported[len(reported)-1] != nil {
		t.Fatal("recovery not reported")
	}
}

func FuzzDecodeOps(f *testing.F) {
	f.Add(encodeOps(nil, []op{{typ: opSet, key: "k", value: []byte("v")}, {typ: opDelete, key: "d"}}))
	f.Add([]byte{1, 1})
	f.Fuzz(func(t *testing.T, p []byte) {
		ops, err := decodeOps(p)
		if err != nil {
			return
		}
		again, err := decodeOps(encodeOps(nil, ops))
		if err != nil || len(again) != len(ops) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
