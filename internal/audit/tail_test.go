package audit

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func seqs(recs []Record) []uint64 {
	var out []uint64
	for _, r := range recs {
		out = append(out, r.Seq)
	}
	return out
}

// A tail returns each record once, in order, across reads, limits and
// rotations, and resumes from a persisted position.
func TestTailReadsEachRecordOnceAcrossRotations(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, 600)
	appendN(t, l, 7)
	tail := NewTail(dir, 0)
	got, damaged, err := tail.Read(5)
	require.NoError(t, err)
	assert.Zero(t, damaged)
	assert.Equal(t, []uint64{1, 2, 3, 4, 5}, seqs(got))
	got, _, err = tail.Read(100)
	require.NoError(t, err)
	assert.Equal(t, []uint64{6, 7}, seqs(got))
	got, _, err = tail.Read(100)
	require.NoError(t, err)
	assert.Empty(t, got, "nothing new")

	appendN(t, l, 20) // several rotations
	files, _ := listFiles(dir)
	require.Greater(t, len(files), 3)
	var all []uint64
	for {
		got, _, err := tail.Read(4)
		require.NoError(t, err)
		if len(got) == 0 {
			break
		}
		all = append(all, seqs(got)...)
	}
	var want []uint64
	for s := uint64(8); s <= 27; s++ {
		want = append(want, s)
	}
	assert.Equal(t, want, all)
	assert.EqualValues(t, 28, tail.Next())

	resumed := NewTail(dir, 20)
	got, _, err = resumed.Read(3)
	require.NoError(t, err)
	assert.Equal(t, []uint64{20, 21, 22}, seqs(got))
}

// A line being written (no newline yet) waits for the next read; a damaged
// line is skipped and counted; a file removed by retention is passed over.
func TestTailPartialDamagedAndRemovedFiles(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, 1<<20)
	appendN(t, l, 2)
	files, _ := listFiles(dir)
	path := filepath.Join(dir, files[len(files)-1])
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"seq":3,"act`)
	require.NoError(t, err)

	tail := NewTail(dir, 0)
	got, damaged, err := tail.Read(10)
	require.NoError(t, err)
	assert.Equal(t, []uint64{1, 2}, seqs(got))
	assert.Zero(t, damaged)
	_, err = f.WriteString("ion\":\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	got, damaged, err = tail.Read(10)
	require.NoError(t, err)
	assert.Empty(t, got)
	assert.Equal(t, 1, damaged, "the finished line does not parse")

	require.NoError(t, os.Remove(path))
	got, _, err = tail.Read(10)
	require.NoError(t, err)
	assert.Empty(t, got, "the file is gone: nothing to read, no error")
}
