package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Summary is what a verified chain holds.
type Summary struct {
	Files, Records int
	FirstSeq, Last uint64
	StartsMidChain bool // the oldest file was removed by retention: the first Prev is taken on trust
}

// BrokenError names the first record that does not fit the chain.
type BrokenError struct {
	File   string
	Line   int
	Seq    uint64
	Reason string
}

func (e *BrokenError) Error() string {
	return fmt.Sprintf("audit chain broken at %s line %d (seq %d): %s", e.File, e.Line, e.Seq, e.Reason)
}

// Verify checks every file of dir in order: each record parses, its
// sequence number follows the one before, it carries the previous
// record's hash, and its own hash is right under key.
func Verify(dir string, key []byte) (Summary, error) {
	files, err := listFiles(dir)
	if err != nil {
		return Summary{}, err
	}
	var s Summary
	var prev *Record
	for _, name := range files {
		s.Files++
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return s, err
		}
		whole := data[:bytes.LastIndexByte(data, '\n')+1]
		sc := bufio.NewScanner(bytes.NewReader(whole))
		sc.Buffer(make([]byte, 0, 64<<10), maxTail)
		line := 0
		for sc.Scan() {
			line++
			broken := func(seq uint64, format string, a ...any) error {
				return &BrokenError{File: name, Line: line, Seq: seq, Reason: fmt.Sprintf(format, a...)}
			}
			dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
			dec.DisallowUnknownFields()
			var r Record
			if err := dec.Decode(&r); err != nil {
				return s, broken(0, "not a record: %v", err)
			}
			if line == 1 {
				if want, ok := firstSeqOf(name); !ok || want != r.Seq {
					return s, broken(r.Seq, "the file's name says it starts at another record")
				}
			}
			switch {
			case prev == nil:
				s.FirstSeq, s.StartsMidChain = r.Seq, r.Seq != 1 || r.Prev != ""
			case r.Seq != prev.Seq+1:
				return s, broken(r.Seq, "follows record %d: records are missing or out of order", prev.Seq)
			case r.Prev != prev.Hash:
				return s, broken(r.Seq, "does not carry the hash of record %d: a record before it was changed, removed or reordered", prev.Seq)
			}
			if got := hashOf(key, r); got != r.Hash {
				return s, broken(r.Seq, "its hash does not match its content: the record was changed (or the key is not this log's)")
			}
			s.Records++
			s.Last = r.Seq
			rc := r
			prev = &rc
		}
		if err := sc.Err(); err != nil {
			return s, &BrokenError{File: name, Line: line + 1, Reason: err.Error()}
		}
		if len(whole) < len(data) {
			return s, &BrokenError{File: name, Line: line + 1, Reason: "the file ends within a record (a torn write; the next append cuts it off)"}
		}
	}
	return s, nil
}

// Read returns up to limit records with Seq >= from, oldest first.
func Read(dir string, from uint64, limit int) ([]Record, error) {
	files, err := listFiles(dir)
	if err != nil {
		return nil, err
	}
	// Skip files that end before from: a file ends where the next starts.
	start := 0
	for i := range files {
		if first, ok := firstSeqOf(files[i]); ok && first <= from {
			start = i
		}
	}
	var out []Record
	for _, name := range files[start:] {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return out, err
		}
		for _, ln := range bytes.Split(data, []byte("\n")) {
			if len(ln) == 0 {
				continue
			}
			var r Record
			if json.Unmarshal(ln, &r) != nil || r.Seq < from {
				continue
			}
			out = append(out, r)
			if len(out) >= limit {
				return out, nil
			}
		}
	}
	return out, nil
}
