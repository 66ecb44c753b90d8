package boltcheck

import (
	"os"
	"path/filepath"
	"testing"

	"go.etcd.io/bbolt"
)

func makeDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "exporter_otlp_jaeger_traces")
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("default"))
		if err != nil {
			return err
		}
		for i := range 2000 {
			if err := b.Put([]byte{byte(i >> 8), byte(i)}, make([]byte, 700)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCheckAcceptsAHealthyFile(t *testing.T) {
	if err := Check(makeDB(t)); err != nil {
		t.Fatal(err)
	}
}

func TestCheckRefusesTruncatedFiles(t *testing.T) {
	path := makeDB(t)
	st, _ := os.Stat(path)
	for _, keep := range []int64{st.Size() / 2, 3 * 4096, 4096 + 100, 100} {
		if err := os.Truncate(path, keep); err != nil {
			t.Fatal(err)
		}
		if err := Check(path); err == nil {
			t.Errorf("file cut to %d of %d bytes passed the check", keep, st.Size())
		}
	}
}

func TestCheckRefusesDamagedMetaPages(t *testing.T) {
	path := makeDB(t)
	b, _ := os.ReadFile(path)
	for _, off := range []int{16, 4096 + 16} {
		copy(b[off:], "garbage!")
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Check(path); err == nil {
		t.Fatal("both meta pages damaged: passed")
	}
	aside, err := MoveAside(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(aside); err != nil {
		t.Fatal(err)
	}
}
