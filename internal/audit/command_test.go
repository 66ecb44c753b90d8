package audit

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func runVerify(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := NewCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(append([]string{"verify"}, args...))
	err := cmd.Execute()
	return out.String(), err
}

func TestVerifyCommand(t *testing.T) {
	data := t.TempDir()
	dir := filepath.Join(data, "audit")
	l, err := OpenDir(dir, 1<<20, 0)
	require.NoError(t, err)
	appendN(t, l, 5)
	out, err := runVerify(t, "--dir", dir)
	require.NoError(t, err)
	assert.Contains(t, out, "5 records in 1 files verified (records 1 to 5)")

	path := filepath.Join(dir, fileName(1))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, []byte(strings.Replace(string(b), `"outcome":"success"`, `"outcome":"failure"`, 3)), 0o600))
	_, err = runVerify(t, "--dir", dir)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "line 1 (seq 1)")
	assert.Contains(t, err.Error(), "0 records before it verified")

	t.Setenv("SCADAOTEL_DATA_DIR", t.TempDir())
	_, err = runVerify(t)
	assert.ErrorContains(t, err, "audit key")
}
