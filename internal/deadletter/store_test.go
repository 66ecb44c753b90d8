package deadletter

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/scadaotel/scadaotel/internal/diskreserve"
)

func entry(i int) Entry {
	return Entry{Time: time.Unix(1700000000, int64(i)).UTC(), Tenant: "west-pipeline-01", Signal: "traces",
		Reason: "invalid_argument", Detail: "bad span", Items: i, Data: []byte{byte(i), 1, 2, 3}}
}

func TestPutAndReadBack(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Config{Directory: dir})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := s.Put(entry(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// A second process start writes a new file; the first is kept.
	s2, err := Open(Config{Directory: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Put(entry(5)); err != nil {
		t.Fatal(err)
	}
	files, err := Files(dir)
	if err != nil || len(files) != 2 {
		t.Fatalf("files %v %v", files, err)
	}
	var got []Entry
	for _, f := range files {
		if err := ReadFile(f, 0, func(_ int64, e Entry) error { got = append(got, e); return nil }, func(d Damage) { t.Errorf("damage %v", d) }); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 6 {
		t.Fatalf("read %d entries", len(got))
	}
	for i, e := range got {
		w := entry(i)
		if !e.Time.Equal(w.Time) || e.Tenant != w.Tenant || e.Signal != w.Signal || e.Reason != w.Reason ||
			e.Detail != w.Detail || e.Items != w.Items || string(e.Data) != string(w.Data) {
			t.Fatalf("entry %d: %+v, want %+v", i, e, w)
		}
	}
}

func TestReadFileSkipsDamageAndResumesFromProgress(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(Config{Directory: dir})
	for i := range 4 {
		if err := s.Put(entry(i)); err != nil {
			t.Fatal(err)
		}
	}
	_ = s.Close()
	files, _ := Files(dir)
	data, _ := os.ReadFile(files[0])
	// Damage the second entry's payload.
	one := len(data) / 4
	data[one+20] ^= 0xff
	if err := os.WriteFile(files[0], data, 0o600); err != nil {
		t.Fatal(err)
	}
	var items []int
	var dmg []Damage
	var offsets []int64
	err := ReadFile(files[0], 0, func(next int64, e Entry) error {
		items = append(items, e.Items)
		offsets = append(offsets, next)
		return nil
	}, func(d Damage) { dmg = append(dmg, d) })
	if err != nil || len(items) != 3 || items[0] != 0 || items[1] != 2 || items[2] != 3 {
		t.Fatalf("items %v err %v", items, err)
	}
	if len(dmg) != 1 || dmg[0].Start != int64(one) || dmg[0].File != files[0] {
		t.Fatalf("damage %v", dmg)
	}
	if err := SetProgress(files[0], offsets[1]); err != nil {
		t.Fatal(err)
	}
	p, err := Progress(files[0])
	if err != nil || p != offsets[1] {
		t.Fatalf("progress %d %v", p, err)
	}
	items = nil
	_ = ReadFile(files[0], p, func(_ int64, e Entry) error { items = append(items, e.Items); return nil }, nil)
	if len(items) != 1 || items[0] != 3 {
		t.Fatalf("after progress: %v", items)
	}
	if err := Remove(files[0]); err != nil {
		t.Fatal(err)
	}
	if files, _ := Files(dir); len(files) != 0 {
		t.Fatalf("left %v", files)
	}
}

func TestPutRefusedInsideReserve(t *testing.T) {
	dir := t.TempDir()
	// A reserve larger than any disk: every write must be refused, retryably.
	s, err := Open(Config{Directory: dir, DiskReserve: diskreserve.Config{Percent: 50, Bytes: 1 << 62}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(entry(1)); !errors.Is(err, diskreserve.ErrFull) {
		t.Fatalf("err %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	if (Config{}).RequireDirectory() == nil {
		t.Fatal("empty directory accepted")
	}
	if (Config{Directory: "x", DiskReserve: diskreserve.Config{Percent: 90}}).Validate() == nil {
		t.Fatal("bad reserve accepted")
	}
}

func FuzzDecodeEntry(f *testing.F) {
	f.Add(entry(3).encode(nil))
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, p []byte) {
		e, err := decodeEntry(p)
		if err != nil {
			return
		}
		again, err := decodeEntry(e.encode(nil))
		if err != nil || again.Tenant != e.Tenant || again.Items != e.Items || string(again.Data) != string(e.Data) || !again.Time.Equal(e.Time) {
			t.Fatalf("decoded %+v does not round-trip: %+v %v", e, again, err)
		}
	})
}
