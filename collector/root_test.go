package main

import (
	"strings"
	"testing"
)

func TestRefusesRootUnlessAllowed(t *testing.T) {
	t.Setenv(allowRootEnv, "")
	defer func(f func() int) { geteuid = f }(geteuid)
	geteuid = func() int { return 0 }
	err := checkNotRoot(false)
	if err == nil || !strings.Contains(err.Error(), "refusing to run as root") || !strings.Contains(err.Error(), "--allow-root") {
		t.Fatalf("as root: %v, want a refusal that says how to allow it", err)
	}
	if err := checkNotRoot(true); err != nil {
		t.Errorf("--allow-root: %v", err)
	}
	t.Setenv(allowRootEnv, "1")
	if err := checkNotRoot(false); err != nil {
		t.Errorf("%s=1: %v", allowRootEnv, err)
	}
	t.Setenv(allowRootEnv, "")
	geteuid = func() int { return 1000 }
	if err := checkNotRoot(false); err != nil {
		t.Errorf("as a user: %v", err)
	}
}
