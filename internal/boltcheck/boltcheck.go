// Package boltcheck tells, before bbolt opens a file, whether opening it is
// safe: bbolt memory-maps the file and trusts its meta pages, so a file cut
// short (a full disk, a copy interrupted) makes it fault inside the mmap
// and kill the process on every start. A file that fails the check is
// moved aside by the caller, never opened.
package boltcheck

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"time"
)

const (
	magic       = 0xED0CDAED
	version     = 2
	pageHeader  = 16 // id, flags, count, overflow
	metaSize    = 64 // through the checksum
	checksumOff = 56
)

type meta struct {
	pageSize uint32
	pgid     uint64 // pages in use (high water mark)
	txid     uint64
}

func parseMeta(b []byte) (meta, error) {
	if len(b) < pageHeader+metaSize {
		return meta{}, errors.New("meta page cut short")
	}
	m := b[pageHeader : pageHeader+metaSize]
	if binary.LittleEndian.Uint32(m[0:]) != magic {
		return meta{}, errors.New("no bbolt magic")
	}
	if binary.LittleEndian.Uint32(m[4:]) != version {
		return meta{}, fmt.Errorf("bbolt version %d", binary.LittleEndian.Uint32(m[4:]))
	}
	h := fnv.New64a()
	_, _ = h.Write(m[:checksumOff])
	if h.Sum64() != binary.LittleEndian.Uint64(m[checksumOff:]) {
		return meta{}, errors.New("meta checksum mismatch")
	}
	return meta{
		pageSize: binary.LittleEndian.Uint32(m[8:]),
		pgid:     binary.LittleEndian.Uint64(m[40:]),
		txid:     binary.LittleEndian.Uint64(m[48:]),
	}, nil
}

// Check returns nil when path looks openable by bbolt: a valid meta page
// whose pages all lie inside the file.
func Check(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	if size == 0 {
		return nil // bbolt initialises an empty file
	}
	first := make([]byte, 4096)
	n, err := io.ReadFull(f, first)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return err
	}
	m0, err0 := parseMeta(first[:n])
	pageSize := int64(4096)
	if err0 == nil && m0.pageSize >= 512 && m0.pageSize <= 1<<16 {
		pageSize = int64(m0.pageSize)
	}
	second := make([]byte, pageHeader+metaSize)
	var m1 meta
	err1 := errors.New("second meta page missing")
	if k, err := f.ReadAt(second, pageSize); err == nil || k == len(second) {
		m1, err1 = parseMeta(second)
	}
	best, bestErr := m0, err0
	if err1 == nil && (err0 != nil || m1.txid > m0.txid) {
		best, bestErr = m1, nil
	}
	if bestErr != nil {
		return fmt.Errorf("%s: neither meta page is valid (%v; %v)", path, err0, err1)
	}
	// Check both valid metas' extent: bbolt falls back to the other one.
	for _, m := range []struct {
		m   meta
		err error
	}{{m0, err0}, {m1, err1}} {
		if m.err == nil && int64(m.m.pgid)*int64(m.m.pageSize) > size { //nolint:gosec // page counts are small
			return fmt.Errorf("%s: cut short: its meta page (txid %d) uses %d pages of %d bytes, the file has %d bytes",
				path, m.m.txid, m.m.pgid, m.m.pageSize, size)
		}
	}
	_ = best
	return nil
}

// MoveAside renames a file that failed Check so that it is kept for
// inspection and the component can start with a new one.
func MoveAside(path string) (string, error) {
	aside := fmt.Sprintf("%s.damaged-%d", path, time.Now().Unix())
	return aside, os.Rename(path, aside)
}
