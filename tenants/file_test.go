package tenants

import (
	"bytes"
	"github.com/scadaotel/scadaotel/internal/audit"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs `tenants args...` and returns stdout, stderr and the error.
func runCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	cmd := NewCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestTenantsCommandsLifecycle(t *testing.T) {
	t.Setenv(tenantsFileEnv, "")
	t.Setenv(dataDirEnv, "")
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "tenants.yaml")

	// add creates a missing file; stdout is the token alone.
	out, errOut, err := runCLI(t, "add", "west-pipeline-01", "--file", path)
	if err != nil {
		t.Fatal(err)
	}
	tok1 := strings.TrimSpace(out)
	if tok1 == "" || strings.ContainsAny(tok1, " \t\n") || len(tok1) < 40 {
		t.Fatalf("stdout %q: want one token", out)
	}
	if !strings.Contains(errOut, "shown only now") {
		t.Errorf("stderr %q: want the explanation", errOut)
	}
	content := mustRead(t, path)
	if strings.Contains(content, tok1) {
		t.Fatal("the token itself is in the file")
	}
	if !strings.Contains(content, HashToken(tok1)) {
		t.Fatalf("the token's hash is not in the file:\n%s", content)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("new file mode %v, want 0600", st.Mode().Perm())
	}
	reg := func() *Registry {
		r, err := NewRegistry(nil, path, 0, nil)
		if err != nil {
			t.Fatalf("the appliance's registry refuses the file: %v\n%s", err, mustRead(t, path))
		}
		return r
	}
	if id, ok := reg().Lookup(tok1); !ok || id != "west-pipeline-01" {
		t.Fatalf("Lookup = %q %v", id, ok)
	}

	if _, _, err := runCLI(t, "add", "east-pipeline-02", "--kafka-topic", "east.alerts", "--file", path); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, "add", "north-pipeline-03", "--shared-kafka-topic", "--file", path); err != nil {
		t.Fatal(err)
	}
	out, _, err = runCLI(t, "list", "--file", path)
	if err != nil {
		t.Fatal(err)
	}
	// A tenant gets an alert topic of its own unless told to share.
	for _, want := range []string{"west-pipeline-01", "scada.alerts.west-pipeline-01", "east-pipeline-02", "east.alerts", "north-pipeline-03", "(default)"} {
		if !strings.Contains(out, want) {
			t.Errorf("list output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, HashToken(tok1)) {
		t.Error("list prints a hash")
	}

	// rotate: new token accepted, old refused, only the hash stored.
	out, _, err = runCLI(t, "rotate-token", "west-pipeline-01", "--file", path)
	if err != nil {
		t.Fatal(err)
	}
	tok2 := strings.TrimSpace(out)
	if tok2 == tok1 || tok2 == "" {
		t.Fatalf("rotate printed %q", out)
	}
	content = mustRead(t, path)
	if strings.Contains(content, tok2) || strings.Contains(content, HashToken(tok1)) || !strings.Contains(content, HashToken(tok2)) {
		t.Fatalf("after rotation the file must hold only the new token's hash:\n%s", content)
	}
	r := reg()
	if _, ok := r.Lookup(tok1); ok {
		t.Error("old token still accepted")
	}
	if id, ok := r.Lookup(tok2); !ok || id != "west-pipeline-01" {
		t.Errorf("new token: %q %v", id, ok)
	}
	if tn, _ := r.Tenant("east-pipeline-02"); tn.KafkaTopic != "east.alerts" {
		t.Errorf("east topic %q", tn.KafkaTopic)
	}

	if _, _, err := runCLI(t, "remove", "east-pipeline-02", "--file", path); err != nil {
		t.Fatal(err)
	}
	if _, ok := reg().Tenant("east-pipeline-02"); ok {
		t.Error("removed tenant still declared")
	}
	for _, id := range []string{"west-pipeline-01", "north-pipeline-03"} {
		if _, _, err := runCLI(t, "remove", id, "--file", path); err != nil {
			t.Fatal(err)
		}
	}
	if got := reg().Tenants(); len(got) != 0 {
		t.Errorf("tenants after removing all: %v", got)
	}
	out, _, _ = runCLI(t, "list", "--file", path)
	if !strings.Contains(out, "no tenants") {
		t.Errorf("list of an empty file: %q", out)
	}
	// No temporary files left behind: the file, the audit trail and its key.
	ents, _ := os.ReadDir(filepath.Dir(path))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "audit audit.key tenants.yaml" {
		t.Errorf("directory holds %v, want the file, the audit trail and its key", names)
	}
	// Every change is in the audit trail, and the chain verifies.
	key, err := audit.LoadKey(filepath.Join(filepath.Dir(path), "audit"), false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := audit.Verify(filepath.Join(filepath.Dir(path), "audit"), key); err != nil {
		t.Fatal(err)
	}
	recs, _ := audit.Read(filepath.Join(filepath.Dir(path), "audit"), 0, 100)
	var actions []string
	for _, r := range recs {
		actions = append(actions, r.Action+" "+r.Tenant)
		if !strings.HasPrefix(r.Actor, "cli:") || r.Object != path || r.Outcome != audit.Success {
			t.Errorf("record %+v", r)
		}
	}
	want := "tenant_add west-pipeline-01,tenant_add east-pipeline-02,tenant_add north-pipeline-03,token_rotate west-pipeline-01," +
		"tenant_remove east-pipeline-02,tenant_remove west-pipeline-01,tenant_remove north-pipeline-03"
	if got := strings.Join(actions, ","); got != want {
		t.Errorf("audit trail:\n%s\nwant\n%s", got, want)
	}
}

// The file `scadaotel validate` / prepareDataDir creates (comments and
// `tenants: []`): add keeps its comments and makes a block list.
func TestTenantsAddKeepsComments(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tenants.yaml")
	orig := `# scadaotel tenants, re-read while the appliance runs.
# Add a tenant (one pipeline) with the SHA-256 of its bearer token:
#   echo -n "$TOKEN" | scadaotel tenants hash-token
# tenants:
#   - id: west-pipeline-01
#     token_sha256: [<hash>]
tenants: []
`
	if err := os.WriteFile(path, []byte(orig), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, "add", "west-pipeline-01", "--file", path); err != nil {
		t.Fatal(err)
	}
	content := mustRead(t, path)
	if !strings.Contains(content, "# Add a tenant (one pipeline) with the SHA-256 of its bearer token:") {
		t.Errorf("comments lost:\n%s", content)
	}
	if !strings.Contains(content, "\n  - id: west-pipeline-01\n") {
		t.Errorf("want a block list entry:\n%s", content)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want the original 0640", st.Mode().Perm())
	}

	// Comments beside tenants survive a rotation of another tenant.
	withComments := `# site tenants
tenants:
  # the west line, owner: ops-west
  - id: west-pipeline-01
    token_sha256: [` + HashToken("a") + `] # issued 2026-01
    limits: {spans_per_second: 5000}
  # the east line
  - id: east-pipeline-02
    token_sha256: [` + HashToken("b") + `]
`
	if err := os.WriteFile(path, []byte(withComments), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, "rotate-token", "east-pipeline-02", "--file", path); err != nil {
		t.Fatal(err)
	}
	content = mustRead(t, path)
	for _, want := range []string{"# site tenants", "# the west line, owner: ops-west", "# issued 2026-01", "# the east line",
		"spans_per_second: 5000", HashToken("a")} {
		if !strings.Contains(content, want) {
			t.Errorf("lost %q:\n%s", want, content)
		}
	}
	if strings.Contains(content, HashToken("b")) {
		t.Error("old east hash kept")
	}
}

func TestTenantsCommandErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tenants.yaml")
	missing := filepath.Join(dir, "none.yaml")
	if _, _, err := runCLI(t, "add", "west-pipeline-01", "--file", path); err != nil {
		t.Fatal(err)
	}
	before := mustRead(t, path)
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("tenants: [{id: BAD ID}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"add", "west-pipeline-01", "--file", path}, `tenant "west-pipeline-01" already exists`},
		{[]string{"add", "Bad ID", "--file", path}, "invalid tenant id"},
		{[]string{"add", "east", "--kafka-topic", "a topic", "--file", path}, "not a valid Kafka topic name"},
		{[]string{"add", "east", "--kafka-topic", "e", "--shared-kafka-topic", "--file", path}, "exclude each other"},
		{[]string{"add", "--file", path}, "want one tenant id"},
		{[]string{"rotate-token", "nobody", "--file", path}, `no tenant "nobody"`},
		{[]string{"rotate-token", "nobody", "--file", path}, "tenants there: west-pipeline-01"},
		{[]string{"remove", "nobody", "--file", path}, `no tenant "nobody"`},
		{[]string{"rotate-token", "west-pipeline-01", "--file", missing}, "does not exist: create it with `scadaotel tenants add"},
		{[]string{"list", "--file", missing}, "does not exist"},
		{[]string{"add", "east", "--file", bad}, "fix the file first"},
		{[]string{"rotate-token", "west-pipeline-01", "--file", bad}, "invalid tenant id"},
	} {
		_, _, err := runCLI(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one containing %q", tc.args, err, tc.want)
		}
	}
	if after := mustRead(t, path); after != before {
		t.Errorf("failed commands changed the file:\n%s\n---\n%s", before, after)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("rotate-token created a missing file")
	}
}

// The default file location follows the appliance's: SCADAOTEL_TENANTS_FILE,
// else $SCADAOTEL_DATA_DIR/tenants.yaml.
func TestTenantsCommandFileLocation(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(tenantsFileEnv, "")
	t.Setenv(dataDirEnv, dir)
	if _, _, err := runCLI(t, "add", "west-pipeline-01"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "tenants.yaml")); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.yaml")
	t.Setenv(tenantsFileEnv, other)
	if _, _, err := runCLI(t, "add", "east-pipeline-02"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Fatal(err)
	}
}

// WriteFileAtomic never exposes a partial file: the target is the old or
// the new content at every moment, and it is replaced by rename (a reader
// holding the old file keeps reading the old content).
func TestWriteFileAtomic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tenants.yaml")
	if err := os.WriteFile(path, []byte("old content\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	held, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := WriteFileAtomic(path, []byte("new content\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, path); got != "new content\n" {
		t.Errorf("new content %q", got)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(held); err != nil {
		t.Fatal(err)
	}
	if buf.String() != "old content\n" {
		t.Errorf("the file was rewritten in place (an open reader sees %q), want a rename", buf.String())
	}
	// A failing write (directory not writable) leaves the old file intact.
	if os.Geteuid() != 0 {
		d := filepath.Dir(path)
		if err := os.Chmod(d, 0o500); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(d, 0o700)
		if err := WriteFileAtomic(path, []byte("x"), 0o600); err == nil {
			t.Error("write into a read-only directory succeeded")
		}
		if got := mustRead(t, path); got != "new content\n" {
			t.Errorf("after a failed write: %q", got)
		}
	}
}
