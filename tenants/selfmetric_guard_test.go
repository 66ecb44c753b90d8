package tenants

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestNoSelfMetricCarriesATenantID: every per-tenant self-metric goes
// through SelfMetricTenant, so the unauthenticated self-metrics endpoint
// names no tenant. A component writing the tenant attribute by hand is
// found here, in the source, before it ships.
func TestNoSelfMetricCarriesATenantID(t *testing.T) {
	byHand := regexp.MustCompile(`attribute\.String\(\s*(AttrTenant|tenants\.SelfMetricAttribute|SelfMetricAttribute|"tenant")\s*,`)
	root := filepath.Join("..")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case "node_modules", "testdata", "tools", ".git":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") || filepath.Base(path) == "selfmetric.go" {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(src), "\n") {
			if byHand.MatchString(line) {
				t.Errorf("%s:%d: a self-metric's tenant attribute by hand; use tenants.SelfMetricTenant(tenant): %s", path, i+1, strings.TrimSpace(line))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
