package logstorageextension

import (
	"errors"
	"fmt"
	"os"
	"time"

	"go.etcd.io/bbolt"
	"go.uber.org/zap"

	"github.com/scadaotel/scadaotel/internal/boltcheck"
)

// fileStorageBucket is the bucket file_storage keeps every key in.
var fileStorageBucket = []byte("default")

// migrateFileStorage imports the file_storage (bbolt) file of the same
// client into l when l is empty, syncs, and renames the old file
// *.migrated, so a data directory written by file_storage drains on the
// first start with log_storage. A file bbolt could not open safely is moved
// aside (*.damaged-<unix>) and named in the log; it is never opened.
func migrateFileStorage(path string, l *segLog, logger *zap.Logger) error {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	l.mu.Lock()
	empty := len(l.index) == 0
	l.mu.Unlock()
	if !empty {
		logger.Warn("a file_storage queue file exists beside a log that already holds data; not imported", zap.String("file", path))
		return nil
	}
	if err := boltcheck.Check(path); err != nil {
		aside, rerr := boltcheck.MoveAside(path)
		logger.Error("file_storage queue file is damaged; moved aside, not imported", zap.String("file", path),
			zap.String("moved_to", aside), zap.Error(err), zap.NamedError("rename", rerr))
		return nil
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	var batch []op
	size, keys := 0, 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := l.appendOps(batch, false, nil)
		batch, size = nil, 0
		return err
	}
	err = db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(fileStorageBucket)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			batch = append(batch, op{typ: opSet, key: string(k), value: append([]byte(nil), v...)})
			size += len(k) + len(v)
			keys++
			if size > 16<<20 {
				return flush()
			}
			return nil
		})
	})
	if err == nil {
		err = flush()
	}
	cerr := db.Close()
	if err != nil {
		return fmt.Errorf("import %s: %w", path, err)
	}
	if cerr != nil {
		return cerr
	}
	l.mu.Lock()
	pos := l.appended
	l.mu.Unlock()
	if err := l.syncTo(pos); err != nil {
		return err
	}
	if err := os.Rename(path, path+".migrated"); err != nil {
		return err
	}
	logger.Info("imported a file_storage queue file; the old file is kept as *.migrated and can be deleted",
		zap.String("file", path), zap.Int("keys", keys))
	return nil
}
