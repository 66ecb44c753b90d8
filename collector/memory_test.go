package main

import (
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestPlanMemorySources(t *testing.T) {
	const gib = 1 << 30
	cases := []struct {
		name   string
		env    map[string]string
		cgroup uint64
		total  uint64
		budget int64
		source string
		goLim  bool
	}{
		{"cgroup wins over RAM", nil, 1 * gib, 24 * gib, gib, "cgroup", true},
		{"no cgroup: half of RAM", nil, 0, 4 * gib, 2 * gib, "half", true},
		{"no cgroup: capped at 4 GiB", nil, 0, 24 * gib, 4 * gib, "half", true},
		{"cgroup as large as RAM is no limit", nil, 24 * gib, 24 * gib, 4 * gib, "half", true},
		{"GOMEMLIMIT is the budget and is kept", map[string]string{"GOMEMLIMIT": "768MiB"}, 0, 24 * gib, 768 << 20, "GOMEMLIMIT", false},
		{"explicit limit wins", map[string]string{memoryLimitEnv: "512MiB"}, gib, 24 * gib, 512 << 20, memoryLimitEnv, true},
	}
	for _, c := range cases {
		p, err := planMemory(env(c.env), c.cgroup, c.total)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if p.Budget != c.budget || !strings.Contains(p.Source, c.source) || (p.GoLimit > 0) != c.goLim {
			t.Errorf("%s: %+v", c.name, p)
		}
		// The shares leave room: heap soft limit + caches stay inside the budget.
		if p.GoLimit > 0 && p.GoLimit+p.CacheMiB<<20 > p.Budget {
			t.Errorf("%s: heap %d + caches %d MiB over budget %d", c.name, p.GoLimit, p.CacheMiB, p.Budget)
		}
		if p.LimiterMiB<<20 > p.GoLimit && p.GoLimit > 0 {
			t.Errorf("%s: memory_limiter above the heap soft limit", c.name)
		}
	}
}

func TestPlanMemoryRefusesNonsense(t *testing.T) {
	for _, v := range []string{"lots", "-1GiB", "10MiB"} {
		if _, err := planMemory(env(map[string]string{memoryLimitEnv: v}), 0, 1<<34); err == nil || !strings.Contains(err.Error(), "") {
			t.Errorf("%s accepted", v)
		}
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"1GiB": 1 << 30, "512MiB": 512 << 20, "1.5GiB": 3 << 29, "800MB": 800e6, "1048576": 1 << 20} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("%s: %d %v", in, got, err)
		}
	}
}
