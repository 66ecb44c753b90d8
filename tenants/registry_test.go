package tenants

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	// Write then rename, as config management does.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestRegistryLookup(t *testing.T) {
	reg, err := NewRegistry([]Spec{
		{ID: "west-pipeline-01", TokenSHA256: []string{HashToken("west-token"), strings.ToUpper(HashToken("west-2"))}},
		{ID: "east-pipeline-02", TokenSHA256: []string{HashToken("east-token")}, Limits: Limits{SpansPerSecond: 10}},
	}, "", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	for tok, want := range map[string]string{"west-token": "west-pipeline-01", "west-2": "west-pipeline-01", "east-token": "east-pipeline-02"} {
		if got, ok := reg.Lookup(tok); !ok || got != want {
			t.Errorf("Lookup(%q) = %q, %v; want %q", tok, got, ok, want)
		}
	}
	for _, tok := range []string{"", "West-token", "west-token ", " west-token", HashToken("west-token")} {
		if got, ok := reg.Lookup(tok); ok {
			t.Errorf("Lookup(%q) = %q, want no tenant", tok, got)
		}
	}
	if tn, ok := reg.Tenant("east-pipeline-02"); !ok || tn.Limits.SpansPerSecond != 10 {
		t.Errorf("Tenant(east) = %+v, %v", tn, ok)
	}
	if n := len(reg.Tenants()); n != 2 {
		t.Errorf("Tenants() has %d tenants, want 2", n)
	}
}

func TestRegistryRejectsBadSpecs(t *testing.T) {
	cases := map[string][]Spec{
		"tenants[0].id":           {{ID: "West"}},
		"tenants[1].id":           {{ID: "a"}, {ID: "a"}},
		"tenants[0].token_sha256": {{ID: "a", TokenSHA256: []string{"plaintext-token"}}},
		"same token":              {{ID: "a", TokenSHA256: []string{HashToken("x")}}, {ID: "b", TokenSHA256: []string{HashToken("x")}}},
		"limits.spans_per_second": {{ID: "a", Limits: Limits{SpansPerSecond: -1}}},
		"kafka_topic":             {{ID: "a", KafkaTopic: "bad topic"}},
		"].kafka_topic":           {{ID: "a", KafkaTopic: "alerts<west>"}},
		"at most 242 characters":  {{ID: "a", KafkaTopic: strings.Repeat("t", 243)}}, // no room for ".alarms"
		"tenants[0].id: invalid":  {{ID: strings.Repeat("a", 64)}},
	}
	for want, specs := range cases {
		_, err := NewRegistry(specs, "", 0, nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want it to mention %q", want, err, want)
		}
	}
}

func TestRegistryFileErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := NewRegistry(nil, dir, 0, nil); err == nil || !strings.Contains(err.Error(), "tenants_file") {
		t.Errorf("unreadable file (a directory): err = %v", err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, "tenants:\n  - id: a\n    token: [plain]\n")
	if _, err := NewRegistry(nil, bad, 0, nil); err == nil || !strings.Contains(err.Error(), "field token not found") {
		t.Errorf("unknown key: err = %v, want it to name the key", err)
	}
	dup := filepath.Join(dir, "dup.yaml")
	writeFile(t, dup, "tenants:\n  - id: a\n")
	if _, err := NewRegistry([]Spec{{ID: "a"}}, dup, 0, nil); err == nil || !strings.Contains(err.Error(), "declared twice") {
		t.Errorf("inline+file duplicate: err = %v", err)
	}
}

// TestRegistryReload: a tenant added and a token revoked in the tenants
// file take effect at the next poll (here every 1 s, virtual time); an
// invalid file keeps the previous tenants.
func TestRegistryReload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "tenants.yaml")
		writeFile(t, path, "tenants:\n  - id: west-pipeline-01\n    token_sha256: ["+HashToken("w1")+", "+HashToken("w2")+"]\n")
		reg, err := NewRegistry(nil, path, time.Second, nil)
		if err != nil {
			t.Fatal(err)
		}
		reg.StartWatching()
		defer reg.StopWatching()
		if _, ok := reg.Lookup("w2"); !ok {
			t.Fatal("w2 should be valid before the change")
		}

		writeFile(t, path, "tenants:\n  - id: west-pipeline-01\n    token_sha256: ["+HashToken("w1")+"]\n"+
			"  - id: east-pipeline-02\n    token_sha256: ["+HashToken("e1")+"]\n")
		time.Sleep(1100 * time.Millisecond)
		synctest.Wait()
		if _, ok := reg.Lookup("w2"); ok {
			t.Error("revoked token w2 still valid after the next poll")
		}
		if got, ok := reg.Lookup("e1"); !ok || got != "east-pipeline-02" {
			t.Errorf("added tenant not found: %q %v", got, ok)
		}
		if got, ok := reg.Lookup("w1"); !ok || got != "west-pipeline-01" {
			t.Errorf("kept token lost: %q %v", got, ok)
		}

		writeFile(t, path, "tenants: [this is: not valid")
		time.Sleep(time.Second)
		synctest.Wait()
		if _, ok := reg.Lookup("e1"); !ok {
			t.Error("an invalid file must keep the previous tenants")
		}
		if reg.ReloadFailures() == 0 {
			t.Error("invalid file not counted as a reload failure")
		}
		if reg.Reloads() != 1 {
			t.Errorf("Reloads() = %d, want 1", reg.Reloads())
		}
	})
}

// TestRegistryMissingFile: a tenants file that does not exist yet means no
// tenants from it (fail closed) until it appears; removing it revokes them.
func TestRegistryMissingFile(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "tenants.yaml")
		reg, err := NewRegistry([]Spec{{ID: "inline", TokenSHA256: []string{HashToken("i")}}}, path, time.Second, nil)
		if err != nil {
			t.Fatal(err)
		}
		reg.StartWatching()
		defer reg.StopWatching()
		if _, ok := reg.Lookup("w1"); ok {
			t.Fatal("token valid before the file exists")
		}
		writeFile(t, path, "tenants:\n  - id: west-pipeline-01\n    token_sha256: ["+HashToken("w1")+"]\n")
		time.Sleep(1100 * time.Millisecond)
		synctest.Wait()
		if got, ok := reg.Lookup("w1"); !ok || got != "west-pipeline-01" {
			t.Fatalf("file tenants not loaded after it appeared: %q %v", got, ok)
		}
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if _, ok := reg.Lookup("w1"); ok {
			t.Error("tenants of a removed file still valid")
		}
		if _, ok := reg.Lookup("i"); !ok {
			t.Error("inline tenant lost")
		}
	})
}

// TestAdministratorsInTheTenantsFile: an administrator's token names the
// administrator and no tenant; a token cannot be both; names are checked.
func TestAdministratorsInTheTenantsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tenants.yaml")
	body := "tenants:\n  - id: west\n    token_sha256: [" + HashToken("west-tok") + "]\n" +
		"administrators:\n  - name: ops-night\n    token_sha256: [" + HashToken("admin-tok") + "]\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := NewRegistry(nil, path, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a, ok := r.LookupAdministrator("admin-tok"); !ok || a != (Administrator{Name: "ops-night", Role: RoleSystem}) {
		t.Errorf("LookupAdministrator = %+v %v", a, ok)
	}
	if _, ok := r.Lookup("admin-tok"); ok {
		t.Error("an administrator's token selects a tenant")
	}
	if _, ok := r.LookupAdministrator("west-tok"); ok {
		t.Error("a tenant's token names an administrator")
	}
	for bad, want := range map[string]string{
		"administrators:\n  - name: Ops\n    token_sha256: [" + HashToken("a") + "]\n":                                                                 "administrators[0].name",
		"administrators:\n  - name: ops\n    token_sha256: [xyz]\n":                                                                                    "administrators[0].token_sha256[0]",
		"administrators:\n  - {name: ops, token_sha256: []}\n  - {name: ops, token_sha256: []}\n":                                                      "declared twice",
		"tenants:\n  - {id: west, token_sha256: [" + HashToken("t") + "]}\nadministrators:\n  - {name: ops, token_sha256: [" + HashToken("t") + "]}\n": `tenant "west"'s`,
	} {
		if _, err := ParseFile("f", []byte(bad)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", bad, err, want)
		}
	}
}

// A topic of 242 characters leaves room for ".alarms" within Kafka's 249,
// so its alarm topic is valid too.
func TestRegistryAcceptsLongestTopic(t *testing.T) {
	topic := strings.Repeat("t", 242)
	if _, err := NewRegistry([]Spec{{ID: "a", KafkaTopic: topic}}, "", 0, nil); err != nil {
		t.Fatalf("a %d-character topic: %v", len(topic), err)
	}
	if n := len(topic + AlarmsTopicSuffix); n > 249 {
		t.Fatalf("its alarm topic has %d characters, over Kafka's 249", n)
	}
}
