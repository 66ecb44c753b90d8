package tenantauthextension

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"

	"github.com/scadaotel/scadaotel/internal/certs"
)

func auditText(t *testing.T, dir string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	var all strings.Builder
	for _, f := range files {
		b, _ := os.ReadFile(f)
		all.Write(b)
	}
	return all.String()
}

// TestCertificateChangesAreAudited: a certificate replaced on disk is one
// certificate_reload record within a second, naming the new certificate;
// a file that becomes unreadable is one failure record; nothing is
// recorded while the files stay the same.
func TestCertificateChangesAreAudited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := t.TempDir()
		a, err := newAuditor(AuditConfig{Directory: filepath.Join(base, "audit"), MaxFileMiB: 16, FailureWindow: time.Minute}, zap.NewNop())
		if err != nil {
			t.Fatal(err)
		}
		defer a.stop()
		for _, d := range []string{"a", "b"} {
			if _, err := certs.Init(filepath.Join(base, d), []string{"scada-" + d}, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		live := filepath.Join(base, "live.pem")
		copyFile := func(src string) {
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(live+".new", b, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(live+".new", live); err != nil {
				t.Fatal(err)
			}
		}
		copyFile(filepath.Join(base, "a", certs.ServerFile))
		w := newCertWatch(a, []string{live})
		go w.run(time.Second)
		defer w.halt()

		time.Sleep(3 * time.Second)
		if strings.Contains(auditText(t, filepath.Join(base, "audit")), "certificate_reload") {
			t.Fatal("recorded a reload without a change")
		}
		copyFile(filepath.Join(base, "b", certs.ServerFile))
		time.Sleep(1100 * time.Millisecond)
		synctest.Wait()
		got := auditText(t, filepath.Join(base, "audit"))
		if n := strings.Count(got, `"action":"certificate_reload"`); n != 1 || !strings.Contains(got, "subject CN=scada-b") ||
			!strings.Contains(got, `"object":"`+live+`"`) {
			t.Fatalf("%d reload records after one change:\n%s", n, got)
		}
		if err := os.Remove(live); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Second)
		synctest.Wait()
		got = auditText(t, filepath.Join(base, "audit"))
		if n := strings.Count(got, `"outcome":"failure"`); n != 1 {
			t.Fatalf("%d failure records for a removed certificate:\n%s", n, got)
		}
	})
}
