package audit

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

func openTest(t *testing.T, dir string, maxBytes int64) *Log {
	t.Helper()
	l, err := Open(Config{Dir: dir, Key: testKey, MaxFileBytes: maxBytes})
	require.NoError(t, err)
	return l
}

func appendN(t *testing.T, l *Log, n int) {
	t.Helper()
	for i := range n {
		_, err := l.Append(Record{Actor: "ops", Action: "login", Outcome: Success, Object: strings.Repeat("x", i%7)})
		require.NoError(t, err)
	}
}

func brokenAt(t *testing.T, dir string) *BrokenError {
	t.Helper()
	_, err := Verify(dir, testKey)
	var b *BrokenError
	require.ErrorAs(t, err, &b)
	return b
}

func TestChainVerifiesAcrossRotationsAndWriters(t *testing.T) {
	dir := t.TempDir()
	a, b := openTest(t, dir, 600), openTest(t, dir, 600) // two processes' logs on one directory
	for i := range 30 {
		l := a
		if i%3 == 0 {
			l = b
		}
		_, err := l.Append(Record{Actor: "ops", Action: "login", Outcome: Success})
		require.NoError(t, err)
	}
	files, _ := listFiles(dir)
	require.Greater(t, len(files), 3, "rotated by size")
	s, err := Verify(dir, testKey)
	require.NoError(t, err)
	assert.Equal(t, Summary{Files: len(files), Records: 30, FirstSeq: 1, Last: 30}, s)
	got, err := Read(dir, 25, 3)
	require.NoError(t, err)
	require.Len(t, got, 3)
	assert.Equal(t, []uint64{25, 26, 27}, []uint64{got[0].Seq, got[1].Seq, got[2].Seq})
}

func TestVerifyNamesTheFirstTamperedRecord(t *testing.T) {
	type edit func(lines [][]byte) [][]byte
	for name, c := range map[string]struct {
		edit edit
		seq  uint64
		line int
	}{
		"field edited": {func(l [][]byte) [][]byte {
			l[4] = bytes.Replace(l[4], []byte(`"actor":"ops"`), []byte(`"actor":"eve"`), 1)
			return l
		}, 5, 5},
		"record deleted":  {func(l [][]byte) [][]byte { return append(l[:3], l[4:]...) }, 5, 4},
		"records swapped": {func(l [][]byte) [][]byte { l[2], l[3] = l[3], l[2]; return l }, 4, 3},
		"unknown field added": {func(l [][]byte) [][]byte {
			l[6] = bytes.Replace(l[6], []byte(`{`), []byte(`{"x":1,`), 1)
			return l
		}, 0, 7},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			appendN(t, openTest(t, dir, 1<<20), 10)
			path := filepath.Join(dir, fileName(1))
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			lines := bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
			lines = c.edit(lines)
			require.NoError(t, os.WriteFile(path, append(bytes.Join(lines, []byte("\n")), '\n'), 0o600))
			b := brokenAt(t, dir)
			assert.Equal(t, c.seq, b.Seq, b.Error())
			assert.Equal(t, c.line, b.Line, b.Error())
		})
	}
	t.Run("forged record appended without the key", func(t *testing.T) {
		dir := t.TempDir()
		appendN(t, openTest(t, dir, 1<<20), 3)
		forger, err := Open(Config{Dir: dir, Key: []byte("not the key")})
		require.NoError(t, err)
		_, err = forger.Append(Record{Actor: "eve", Action: "token_rotate", Outcome: Success})
		require.NoError(t, err)
		assert.Equal(t, uint64(4), brokenAt(t, dir).Seq)
	})
	t.Run("a whole file removed from the middle", func(t *testing.T) {
		dir := t.TempDir()
		appendN(t, openTest(t, dir, 300), 20)
		files, _ := listFiles(dir)
		require.Greater(t, len(files), 2)
		require.NoError(t, os.Remove(filepath.Join(dir, files[1])))
		first, _ := firstSeqOf(files[2])
		assert.Equal(t, first, brokenAt(t, dir).Seq)
	})
}

func TestTornTailIsCutAndTheChainGoesOn(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, 1<<20)
	appendN(t, l, 3)
	path := filepath.Join(dir, fileName(1))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"seq":4,"time":"2026-`) // a crash within a write
	require.NoError(t, err)
	require.NoError(t, f.Close())
	b := brokenAt(t, dir)
	assert.Contains(t, b.Reason, "torn")
	appendN(t, l, 1)
	s, err := Verify(dir, testKey)
	require.NoError(t, err)
	assert.Equal(t, uint64(4), s.Last)
}

func TestRetentionRemovesOldFilesOnly(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	l, err := Open(Config{Dir: dir, Key: testKey, MaxFileBytes: 300, Retention: 48 * time.Hour, Now: func() time.Time { return now }})
	require.NoError(t, err)
	appendN(t, l, 6)
	before, _ := listFiles(dir)
	now = now.Add(72 * time.Hour)
	appendN(t, l, 6)
	after, _ := listFiles(dir)
	assert.NotContains(t, after, before[0], "a file older than the retention is removed")
	s, err := Verify(dir, testKey)
	require.NoError(t, err)
	assert.True(t, s.StartsMidChain)
	assert.Equal(t, uint64(12), s.Last)
}

func TestOpenErrors(t *testing.T) {
	_, err := Open(Config{Dir: t.TempDir()})
	assert.ErrorContains(t, err, "no key")
	file := filepath.Join(t.TempDir(), "f")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	_, err = Open(Config{Dir: filepath.Join(file, "sub"), Key: testKey})
	assert.Error(t, err)
	var b *BrokenError
	assert.False(t, errors.As(err, &b))
}
