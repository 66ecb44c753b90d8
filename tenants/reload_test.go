//go:build e2e

package tenants_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/scadaotel/scadaotel/tenants"
)

// TestTenantsFileReload: through the real binary, a tenant added and a token
// revoked in the tenants file take effect within 5 s without a restart; the
// revoked token then gets 401; a broken file keeps the previous tenants.
func TestTenantsFileReload(t *testing.T) {
	const westToken2 = "w3st-second-token-19a"
	a := startAppliance(t, nil, fmt.Sprintf("tenants:\n  - id: %s\n    token_sha256: [%s, %s]\n",
		westID, tenants.HashToken(westToken), tenants.HashToken(westToken2)))
	send := func(token string) httpResult {
		return a.postHTTP(t, traces(t, "svc", "op", newTraceID(t), 1, nil, nil), "Authorization", "Bearer "+token)
	}
	if r := send(westToken2); r.code != 200 {
		t.Fatalf("second west token before revocation: %d %s", r.code, r.body)
	}
	if r := send(eastToken); r.code != 401 {
		t.Fatalf("east before it is declared: %d %s", r.code, r.body)
	}

	changed := time.Now()
	writeTenants(t, a.tenantsFile, tenantsYAML("", eastToken)) // west keeps only westToken; east added
	var eastOK, revoked time.Duration
	for time.Since(changed) < 5*time.Second && (eastOK == 0 || revoked == 0) {
		if eastOK == 0 && send(eastToken).code == 200 {
			eastOK = time.Since(changed)
		}
		if revoked == 0 {
			if r := send(westToken2); r.code == 401 {
				revoked = time.Since(changed)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if eastOK == 0 || revoked == 0 {
		t.Fatalf("after 5 s: east accepted after %v, revoked token refused after %v (0 = never)", eastOK, revoked)
	}
	t.Logf("added tenant accepted after %v, revoked token refused after %v", eastOK, revoked)
	if r := send(westToken2); r.code != 401 || r.body == "" {
		t.Errorf("revoked token: %d %q, want 401 with a reason", r.code, r.body)
	}
	if r := send(westToken); r.code != 200 {
		t.Errorf("kept token: %d %s", r.code, r.body)
	}

	writeTenants(t, a.tenantsFile, "tenants: [{id: BAD ID}]\n")
	time.Sleep(2500 * time.Millisecond)
	if r := send(eastToken); r.code != 200 {
		t.Errorf("a broken tenants file must keep the previous tenants: %d %s", r.code, r.body)
	}
}
