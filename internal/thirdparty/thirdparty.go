// Package thirdparty locates the third-party captures and datasets the
// tests and the bench read: the redistributable ones live in the
// repository (testbench/testdata, with their licenses); the BATADAL CSV,
// whose publisher gives no license to redistribute it, is read from where
// the user put it.
package thirdparty

import (
	"os"
	"path/filepath"
	"testing"
)

// BatadalEnv names the BATADAL CSV's location.
const BatadalEnv = "SCADAOTEL_BATADAL_CSV"

// BatadalHowTo says where to get the BATADAL CSV.
const BatadalHowTo = "BATADAL_test_dataset.csv is not in the repository (its publisher gives no license to redistribute it): " +
	"download it from the BATADAL competition's data page (batadal.net, Taormina et al., J. Water Resour. Plann. Manage. 144(8), 2018) " +
	"and set " + BatadalEnv + "=/path/to/BATADAL_test_dataset.csv, or put it at ../shared/data/batadal/ beside the repository"

// Root is the repository root (the directory holding go.mod), found from
// the working directory.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}

// Capture returns testbench/testdata/<rel> and fails the test when it is
// missing (it is part of the repository).
func Capture(t testing.TB, rel string) string {
	t.Helper()
	root, err := Root()
	if err != nil {
		t.Fatal("cannot find the repository root (go.mod)")
	}
	p := filepath.Join(root, "testbench", "testdata", rel)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("capture %s missing from the repository: %v", p, err)
	}
	return p
}

// BatadalPath returns the BATADAL CSV's path, or "" when it is nowhere.
func BatadalPath() string {
	if p := os.Getenv(BatadalEnv); p != "" {
		return p
	}
	root, err := Root()
	if err != nil {
		return ""
	}
	p := filepath.Join(root, "..", "shared", "data", "batadal", "BATADAL_test_dataset.csv")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// Batadal returns the BATADAL CSV's path, or skips the test saying where to
// get it.
func Batadal(t testing.TB) string {
	t.Helper()
	p := BatadalPath()
	if p == "" {
		t.Skip(BatadalHowTo)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s=%s: %v", BatadalEnv, p, err)
	}
	return p
}
