// Package secretfile keeps a random key of the appliance's in a file of its
// data directory: made on the first start (mode 0600), the same ever after.
package secretfile

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// LoadOrCreate reads the n-byte key at path, or writes a new random one
// there (atomically, 0600) when there is none. what names the key in errors.
func LoadOrCreate(path string, n int, what string) ([]byte, error) {
	key, err := os.ReadFile(path)
	switch {
	case err == nil && len(key) == n:
		return key, nil
	case err == nil:
		return nil, fmt.Errorf("%s %s: want %d bytes, got %d", what, path, n, len(key))
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	key = make([]byte, n)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".key-*")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer os.Remove(tmp.Name())
	err = tmp.Chmod(0o600)
	if err == nil {
		_, err = tmp.Write(key)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return key, nil
}
