package secretfile

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadOrCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k")
	a, err := LoadOrCreate(path, 32, "test key")
	if err != nil || len(a) != 32 {
		t.Fatalf("create: %v %d", err, len(a))
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	b, err := LoadOrCreate(path, 32, "test key")
	if err != nil || !bytes.Equal(a, b) {
		t.Fatalf("second load: %v, same key %v", err, bytes.Equal(a, b))
	}
	if _, err := LoadOrCreate(path, 16, "test key"); err == nil || !strings.Contains(err.Error(), "test key") {
		t.Errorf("wrong size: %v", err)
	}
	if _, err := LoadOrCreate(filepath.Join(path, "sub"), 32, "test key"); err == nil {
		t.Error("a key under a file was created")
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Errorf("temporary files left: %d entries", len(ents))
	}
}
