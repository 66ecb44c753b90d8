//go:build e2e

package tenants_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/scadaotel/scadaotel/internal/e2e"
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

// TestTenantsRotateTokenReload: `scadaotel tenants rotate-token` (the real
// binary) on the file of a running appliance: the new token is accepted
// and the old one refused with 401 within 5 s, without a restart.
func TestTenantsRotateTokenReload(t *testing.T) {
	a := startAppliance(t, nil, tenantsYAML("", eastToken))
	send := func(token string) int {
		return a.postHTTP(t, traces(t, "svc", "op", newTraceID(t), 1, nil, nil), "Authorization", "Bearer "+token).code
	}
	if code := send(westToken); code != 200 {
		t.Fatalf("west before rotation: %d", code)
	}
	cmd := exec.Command(e2e.Binary(t), "tenants", "rotate-token", westID, "--file", a.tenantsFile)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("rotate-token: %v\n%s", err, stderr.String())
	}
	rotated := time.Now()
	newToken := strings.TrimSpace(stdout.String())
	if newToken == "" || strings.Contains(newToken, "\n") {
		t.Fatalf("rotate-token stdout %q: want the token alone", stdout.String())
	}
	if b, _ := os.ReadFile(a.tenantsFile); strings.Contains(string(b), newToken) {
		t.Fatal("the new token itself is in the tenants file")
	}
	var okAfter, refusedAfter time.Duration
	for time.Since(rotated) < 5*time.Second && (okAfter == 0 || refusedAfter == 0) {
		if okAfter == 0 && send(newToken) == 200 {
			okAfter = time.Since(rotated)
		}
		if refusedAfter == 0 && send(westToken) == 401 {
			refusedAfter = time.Since(rotated)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if okAfter == 0 || refusedAfter == 0 {
		t.Fatalf("after 5 s: new token accepted after %v, old token refused after %v (0 = never)", okAfter, refusedAfter)
	}
	t.Logf("new token accepted after %v, old token refused after %v", okAfter, refusedAfter)
	if code := send(eastToken); code != 200 {
		t.Errorf("the other tenant's token after the rotation: %d", code)
	}
}
