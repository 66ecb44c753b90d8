package tenants

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scadaotel/scadaotel/internal/audit"
)

func runTokens(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	cmd := NewTokensCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

// TestTokensCommandLifecycle: add prints a token once and stores only its
// hash (comments and the other tenant untouched), the registry reading
// the file accepts it with its roles; a duplicate name is refused; rotate
// revokes the old value; remove revokes it; list never shows a hash; each
// change is one audit record and the chain verifies.
func TestTokensCommandLifecycle(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tenants.yaml")
	auditDir := filepath.Join(dir, "audit")
	orig := `# site tenants
tenants:
  # the west line
  - id: west-pipeline-01
    token_sha256: [` + HashToken("legacy") + `] # issued 2026-01
  - id: east-pipeline-02
    tokens:
      - {name: east-reader, sha256: ` + HashToken("east") + `, roles: [viewer]}
`
	if err := os.WriteFile(path, []byte(orig), 0o600); err != nil {
		t.Fatal(err)
	}
	common := []string{"--tenants-file", path, "--audit-dir", auditDir, "--tenant", "west-pipeline-01"}
	out, stderr, err := runTokens(t, append([]string{"add", "--name", "zhang.wei", "--roles", "operator,ingest"}, common...)...)
	if err != nil {
		t.Fatal(err, stderr)
	}
	tok := strings.TrimSpace(out)
	if len(tok) != 43 || !strings.Contains(stderr, "shown only now") {
		t.Fatalf("add printed %q / %q", out, stderr)
	}
	content := mustRead(t, path)
	for _, want := range []string{"# site tenants", "# the west line", "# issued 2026-01", HashToken(tok), HashToken("east")} {
		if !strings.Contains(content, want) {
			t.Errorf("file lost %q:\n%s", want, content)
		}
	}
	if strings.Contains(content, tok) {
		t.Error("the token itself is in the file")
	}
	reg, err := NewRegistry(nil, path, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	ti, ok := reg.LookupToken(tok)
	if !ok || ti.Tenant != "west-pipeline-01" || ti.Name != "zhang.wei" || !ti.Roles.Has(RoleIngest) || !ti.Roles.Has(RoleOperator) || ti.Roles.Has(RoleTenantAdmin) {
		t.Errorf("registry: %+v %v", ti, ok)
	}
	if _, _, err := runTokens(t, append([]string{"add", "--name", "zhang.wei", "--roles", "viewer"}, common...)...); err == nil || !strings.Contains(err.Error(), "already has a token named") {
		t.Errorf("duplicate name: %v", err)
	}
	// The same name in another tenant is another token.
	if _, _, err := runTokens(t, "add", "--name", "zhang.wei", "--roles", "viewer", "--tenants-file", path, "--audit-dir", auditDir, "--tenant", "east-pipeline-02"); err != nil {
		t.Errorf("same name in another tenant: %v", err)
	}
	for _, bad := range [][]string{{"add", "--name", "x", "--roles", "root"}, {"add", "--name", "bad name", "--roles", "viewer"}, {"add", "--name", "x"},
		{"rotate", "--name", "nobody"}, {"remove", "--name", "east-reader"}} {
		if _, _, err := runTokens(t, append(bad, common...)...); err == nil {
			t.Errorf("%v: accepted", bad)
		}
	}
	out, _, err = runTokens(t, append([]string{"rotate", "--name", "zhang.wei"}, common...)...)
	if err != nil {
		t.Fatal(err)
	}
	tok2 := strings.TrimSpace(out)
	if err := reg.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, ok := reg.LookupToken(tok); ok {
		t.Error("the rotated token still works")
	}
	if ti, ok := reg.LookupToken(tok2); !ok || ti.Name != "zhang.wei" || !ti.Roles.Has(RoleOperator) {
		t.Errorf("the new token: %+v %v", ti, ok)
	}
	out, _, err = runTokens(t, append([]string{"list"}, common...)...)
	if err != nil || !strings.Contains(out, "zhang.wei") || !strings.Contains(out, "operator,ingest") || strings.Contains(out, HashToken(tok2)[:12]) {
		t.Errorf("list: %v\n%s", err, out)
	}
	if _, _, err := runTokens(t, append([]string{"remove", "--name", "zhang.wei"}, common...)...); err != nil {
		t.Fatal(err)
	}
	if err := reg.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, ok := reg.LookupToken(tok2); ok {
		t.Error("the removed token still works")
	}
	if ti, ok := reg.LookupToken("legacy"); !ok || ti.Tenant != "west-pipeline-01" {
		t.Error("the tenant's other token was touched")
	}

	recs, err := audit.Read(auditDir, 1, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, r.Action+" "+r.Tenant+" "+r.Object)
		if !strings.HasPrefix(r.Actor, "cli:") {
			t.Errorf("actor %q", r.Actor)
		}
	}
	want := []string{"token_created west-pipeline-01 zhang.wei", "token_created east-pipeline-02 zhang.wei",
		"token_rotated west-pipeline-01 zhang.wei", "token_removed west-pipeline-01 zhang.wei"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	key, err := audit.LoadKey(auditDir, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := audit.Verify(auditDir, key); err != nil {
		t.Errorf("audit verify: %v", err)
	}
}

// TestChangeTokenErrors: the API tells a missing token, a missing tenant
// and a duplicate apart by their sentinel errors.
func TestChangeTokenErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tenants.yaml")
	if err := os.WriteFile(path, []byte("tenants:\n  - id: west-pipeline-01\n    tokens: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ChangeToken(path, TokenChange{Op: TokenRotate, Tenant: "west-pipeline-01", Name: "nobody"}); !errors.Is(err, ErrTokenNotFound) {
		t.Errorf("missing token: %v", err)
	}
	if _, err := ChangeToken(path, TokenChange{Op: TokenAdd, Tenant: "east-pipeline-02", Name: "a", Roles: []string{"viewer"}}); !errors.Is(err, ErrTokenNotFound) {
		t.Errorf("missing tenant: %v", err)
	}
	if _, err := ChangeToken(path, TokenChange{Op: TokenAdd, Tenant: "west-pipeline-01", Name: "a", Roles: []string{"viewer"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ChangeToken(path, TokenChange{Op: TokenAdd, Tenant: "west-pipeline-01", Name: "a", Roles: []string{"viewer"}}); !errors.Is(err, ErrTokenExists) {
		t.Errorf("duplicate: %v", err)
	}
	if _, err := ChangeToken(path, TokenChange{Op: TokenRemove, Tenant: "west-pipeline-01", Name: "a"}); err != nil {
		t.Fatal(err)
	}
	if c := mustRead(t, path); !strings.Contains(c, "tokens: []") {
		t.Errorf("after removing the last token:\n%s", c)
	}
}
