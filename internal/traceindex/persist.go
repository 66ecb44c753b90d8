package traceindex

import (
	"bufio"
	"compress/gzip"
	"encoding/gob"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// The index is saved as one gzip'ed gob file, replaced atomically (write a
// temporary file, fsync, rename, fsync the directory): a crash leaves the
// previous complete file. Its size is the tenants' service and operation
// names plus the Bloom filters' bits (at most MaxTraceIDs × 1.37 bytes per
// tenant before compression).

const fileVersion = 1

type fileIndex struct {
	Version int
	// SavedAt (unix ns) and Clean: a file not written by a clean shutdown
	// misses what was recorded after SavedAt.
	SavedAt        int64
	Clean          bool
	Keys           [2]uint64
	UncertainUntil int64
	Tenants        map[string]fileTenant
}

type fileTenant struct {
	Services          map[string]fileService
	ServicesFullAt    int64
	ServicesRefused   int64
	OperationsRefused int64
	Gens              []fileGen
	Bits              uint64
	Forgotten         int64
	UncertainUntil    int64
}

type fileService struct {
	LastSeen int64
	Ops      map[Operation]int64
	OpsFull  bool
}

type fileGen struct {
	Start, Last, Count int64
	Words              []uint64
}

// Save writes the index to path atomically. final marks the save of a
// clean shutdown: nothing recorded afterwards.
func (x *Index) Save(path string, final bool) error {
	snap := x.snapshot()
	snap.SavedAt, snap.Clean = x.now().UnixNano(), final
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	zw, _ := gzip.NewWriterLevel(bw, gzip.BestSpeed) // a valid level: no error
	err = gob.NewEncoder(zw).Encode(snap)
	if err == nil {
		err = zw.Close()
	}
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("save trace index %s: %w", path, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

func (x *Index) snapshot() fileIndex {
	out := fileIndex{Version: fileVersion, Keys: x.keys, UncertainUntil: x.uncertainUntil.Load(), Tenants: map[string]fileTenant{}}
	x.mu.RLock()
	defer x.mu.RUnlock()
	for id, t := range x.tenants {
		t.mu.RLock()
		ft := fileTenant{Services: make(map[string]fileService, len(t.services)), ServicesFullAt: t.servicesFullAt.Load(),
			ServicesRefused: t.servicesRefused.Load(), OperationsRefused: t.operationsRefused.Load(),
			Bits: t.ids.bits, Forgotten: t.ids.forgotten.Load(), UncertainUntil: t.ids.uncertainUntil.Load()}
		for name, s := range t.services {
			ops := make(map[Operation]int64, len(s.ops))
			for op, seen := range s.ops {
				ops[op] = seen
			}
			ft.Services[name] = fileService{LastSeen: s.lastSeen, Ops: ops, OpsFull: s.opsFull}
		}
		for _, g := range *t.ids.gens.Load() {
			fg := fileGen{Start: g.start.Load(), Last: g.last.Load(), Count: g.count.Load()}
			if fg.Count > 0 {
				w := g.bitset(t.ids.bits)
				fg.Words = make([]uint64, len(w))
				for i := range w {
					fg.Words[i] = atomicLoad(&w[i])
				}
			}
			ft.Gens = append(ft.Gens, fg)
		}
		t.mu.RUnlock()
		out.Tenants[id] = ft
	}
	return out
}

// ErrNoIndex is returned by Load when there is no saved index.
var ErrNoIndex = errors.New("no saved trace index")

// Load reads an index saved by Save, with cfg's bounds. A generation saved
// with another size (MaxTraceIDs changed) is kept as it is.
func Load(path string, cfg Config, now func() time.Time) (*Index, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoIndex
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("trace index %s: %w", path, err)
	}
	var in fileIndex
	if err := gob.NewDecoder(zr).Decode(&in); err != nil {
		return nil, fmt.Errorf("trace index %s: %w", path, err)
	}
	if in.Version != fileVersion {
		return nil, fmt.Errorf("trace index %s: version %d, want %d", path, in.Version, fileVersion)
	}
	x := New(cfg, now)
	x.keys = in.Keys
	x.uncertainUntil.Store(in.UncertainUntil)
	if !in.Clean {
		// A crash: trace ids recorded after the last save are stored but
		// not in the set, so unknown ids are asked to Jaeger until those
		// are older than the lookback.
		x.SetUncertainUntil(time.Unix(0, in.SavedAt).Add(cfg.Lookback))
	}
	for id, ft := range in.Tenants {
		t := x.tenant(id, true)
		t.servicesFullAt.Store(ft.ServicesFullAt)
		t.servicesRefused.Store(ft.ServicesRefused)
		t.operationsRefused.Store(ft.OperationsRefused)
		for name, fs := range ft.Services {
			ops := fs.Ops
			if ops == nil {
				ops = map[Operation]int64{}
			}
			t.services[name] = &serviceIndex{lastSeen: fs.LastSeen, ops: ops, opsFull: fs.OpsFull}
		}
		t.ids.forgotten.Store(ft.Forgotten)
		t.ids.uncertainUntil.Store(ft.UncertainUntil)
		if ft.Bits != t.ids.bits && len(ft.Gens) > 0 {
			// Sized for another MaxTraceIDs: the saved bits cannot be
			// read with this size, so unknown ids are uncertain for one
			// lookback.
			t.ids.uncertainUntil.Store(x.now().Add(cfg.Lookback).UnixNano())
			continue
		}
		gens := make([]*generation, 0, len(ft.Gens))
		for _, fg := range ft.Gens {
			g := &generation{}
			g.start.Store(fg.Start)
			g.last.Store(fg.Last)
			g.count.Store(fg.Count)
			if fg.Words != nil {
				if uint64(len(fg.Words))*64 != t.ids.bits {
					return nil, fmt.Errorf("trace index %s: tenant %s: generation of %d words, want %d", path, id, len(fg.Words), t.ids.bits/64)
				}
				words := fg.Words
				g.alloc.Do(func() { g.words = words })
			}
			gens = append(gens, g)
		}
		t.ids.gens.Store(&gens)
	}
	return x, nil
}
