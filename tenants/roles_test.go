package tenants

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRolesImply(t *testing.T) {
	for _, tc := range []struct {
		roles []string
		has   []Role
		not   []Role
	}{
		{[]string{"ingest"}, []Role{RoleIngest}, []Role{RoleViewer, RoleOperator, RoleTenantAdmin}},
		{[]string{"viewer"}, []Role{RoleViewer}, []Role{RoleIngest, RoleOperator, RoleTenantAdmin}},
		{[]string{"operator"}, []Role{RoleViewer, RoleOperator}, []Role{RoleIngest, RoleTenantAdmin}},
		{[]string{"tenant-admin"}, []Role{RoleViewer, RoleOperator, RoleTenantAdmin}, []Role{RoleIngest}},
	} {
		rs, err := ParseRoles(tc.roles)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range tc.has {
			if !rs.Has(r) {
				t.Errorf("%v lacks %s", tc.roles, r)
			}
		}
		for _, r := range tc.not {
			if rs.Has(r) {
				t.Errorf("%v has %s", tc.roles, r)
			}
		}
	}
	if _, err := ParseRoles([]string{"admin"}); err == nil {
		t.Error("unknown role accepted")
	}
	if got := strings.Join(LegacyRoles.Names(), ","); got != "ingest,operator,viewer" {
		t.Errorf("token_sha256 roles: %s, want ingest, viewer, operator (documented)", got)
	}
}

// A tenants file with named tokens beside the old token_sha256 list: each
// token selects its tenant with its name and roles; the old ones keep
// working as ingest+viewer+operator; the audit trail names tokens by name.
func TestNamedTokens(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tenants.yaml")
	body := "tenants:\n" +
		"  - id: west-pipeline-01\n" +
		"    token_sha256: [" + HashToken("old-west") + "]\n" +
		"    tokens:\n" +
		"      - {name: rtu-gateway-7, sha256: " + HashToken("gw") + ", roles: [ingest]}\n" +
		"      - {name: zhang.wei, sha256: " + HashToken("zw") + ", roles: [operator]}\n"
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	reg, err := NewRegistry(nil, file, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	for tok, want := range map[string]TokenInfo{
		"old-west": {Tenant: "west-pipeline-01", Roles: LegacyRoles},
		"gw":       {Tenant: "west-pipeline-01", Name: "rtu-gateway-7", Roles: rIngest},
		"zw":       {Tenant: "west-pipeline-01", Name: "zhang.wei", Roles: rOperator | rViewer},
	} {
		if got, ok := reg.LookupToken(tok); !ok || got != want {
			t.Errorf("LookupToken(%q) = %+v, %v; want %+v", tok, got, ok, want)
		}
	}
	if got := TokenActor("zw"); got != "zhang.wei" {
		t.Errorf("TokenActor(named) = %q", got)
	}
	if got := TokenActor("old-west"); got != "token:"+HashToken("old-west")[:12] {
		t.Errorf("TokenActor(token_sha256) = %q", got)
	}

	gw, _ := reg.LookupToken("gw")
	ctx := NewTokenContext(context.Background(), gw)
	if FromContext(ctx) != "west-pipeline-01" {
		t.Fatal("tenant lost")
	}
	if code, _ := CheckRole(ctx, RoleIngest); code != http.StatusOK {
		t.Errorf("ingest token writing: %d", code)
	}
	code, reason := CheckRole(ctx, RoleViewer)
	if code != http.StatusForbidden || !strings.Contains(reason, `token "rtu-gateway-7"`) || !strings.Contains(reason, "[ingest]") ||
		!strings.Contains(reason, "needs viewer") {
		t.Errorf("ingest token reading: %d %q", code, reason)
	}
	// A tenant without roles on the context (token_sha256, default_tenant): legacy roles.
	legacy := NewContext(context.Background(), "west-pipeline-01")
	for _, r := range []Role{RoleIngest, RoleViewer, RoleOperator} {
		if code, _ := CheckRole(legacy, r); code != http.StatusOK {
			t.Errorf("legacy %s: %d", r, code)
		}
	}
	if code, _ := CheckRole(legacy, RoleTenantAdmin); code != http.StatusForbidden {
		t.Errorf("legacy tenant-admin: %d", code)
	}
	if code, _ := CheckRole(context.Background(), RoleViewer); code != http.StatusUnauthorized {
		t.Errorf("no tenant: %d", code)
	}
}

func TestNamedTokensRejected(t *testing.T) {
	h := HashToken
	for want, specs := range map[string][]Spec{
		"tokens[0].name":                 {{ID: "a", Tokens: []TokenSpec{{Name: "", SHA256: h("x"), Roles: []string{"viewer"}}}}},
		"tokens[0].sha256":               {{ID: "a", Tokens: []TokenSpec{{Name: "n", SHA256: "plain", Roles: []string{"viewer"}}}}},
		"tokens[0].roles: at least one":  {{ID: "a", Tokens: []TokenSpec{{Name: "n", SHA256: h("x")}}}},
		`unknown role "root"`:            {{ID: "a", Tokens: []TokenSpec{{Name: "n", SHA256: h("x"), Roles: []string{"root"}}}}},
		`two tokens named "n"`:           {{ID: "a", Tokens: []TokenSpec{{Name: "n", SHA256: h("x"), Roles: []string{"viewer"}}, {Name: "n", SHA256: h("y"), Roles: []string{"viewer"}}}}},
		"configured twice":               {{ID: "a", TokenSHA256: []string{h("x")}, Tokens: []TokenSpec{{Name: "n", SHA256: h("x"), Roles: []string{"viewer"}}}}},
		"tokens[0].sha256: the same tok": {{ID: "a", TokenSHA256: []string{h("x")}}, {ID: "b", Tokens: []TokenSpec{{Name: "n", SHA256: h("x"), Roles: []string{"viewer"}}}}},
	} {
		err := ValidateSpecs("tenants", specs)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", want, err)
		}
	}
}
