package diskreserve

import (
	"errors"
	"testing"
	"time"
)

func TestReserveDefaults(t *testing.T) {
	var c Config
	if got := c.reserveFor(128 << 20); got != DefaultMinBytes {
		t.Errorf("128 MiB volume: reserve %d, want the 16 MiB floor", got)
	}
	if got := c.reserveFor(1 << 40); got != DefaultMaxBytes {
		t.Errorf("1 TiB volume: reserve %d, want the 256 MiB cap", got)
	}
	if got := c.reserveFor(1 << 30); got != (1<<30)/20 {
		t.Errorf("1 GiB volume: reserve %d, want 5 %%", got)
	}
	c = Config{Bytes: 1 << 20, Percent: 10}
	if got := c.reserveFor(100 << 20); got != 10<<20 {
		t.Errorf("explicit: reserve %d, want the larger of 1 MiB and 10 %%", got)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []Config{{Bytes: -1}, {Percent: -1}, {Percent: 51}} {
		if c.Validate() == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if err := (Config{Bytes: 1, Percent: 5}).Validate(); err != nil {
		t.Error(err)
	}
}

func TestGuardRefusesInsideReserveAndResumes(t *testing.T) {
	now := time.Unix(0, 0)
	free := uint64(100 << 20)
	g := New("/data", Config{Bytes: 32 << 20})
	g.now = func() time.Time { return now }
	g.stat = func(string) (uint64, uint64, error) { return free, 1 << 30, nil }

	if err := g.Check(); err != nil {
		t.Fatalf("100 MiB free: %v", err)
	}
	free = 10 << 20
	if err := g.Check(); err != nil {
		t.Fatal("reading must be cached for 250 ms")
	}
	now = now.Add(checkEvery)
	err := g.Check()
	var fe *FullError
	if !errors.Is(err, ErrFull) || !errors.As(err, &fe) || fe.Free != 10<<20 || fe.Path != "/data" {
		t.Fatalf("10 MiB free under a 32 MiB reserve: %v", err)
	}
	free = 64 << 20
	g.Refresh()
	if err := g.Check(); err != nil {
		t.Fatalf("space returned: %v", err)
	}
}

func TestGuardStatfsFailureIsNotFull(t *testing.T) {
	g := New("/nowhere/at/all", Config{})
	s := g.Status()
	if s.Err == nil || s.Full {
		t.Fatalf("missing path: %+v", s)
	}
	if g.Check() != nil {
		t.Fatal("an unknown disk must not refuse writes")
	}
}

func TestGuardRealVolume(t *testing.T) {
	s := New(t.TempDir(), Config{}).Status()
	if s.Err != nil || s.Total == 0 || s.Reserve == 0 {
		t.Fatalf("temp dir volume: %+v", s)
	}
}

func TestNewWithStatUsesTheHook(t *testing.T) {
	free := uint64(1 << 20)
	g := NewWithStat("/fake", Config{Bytes: 8 << 20}, func(string) (uint64, uint64, error) { return free, 1 << 30, nil })
	if !errors.Is(g.Check(), ErrFull) {
		t.Fatal("1 MiB free under an 8 MiB reserve must be refused")
	}
	free = 9 << 20
	g.Refresh()
	if err := g.Check(); err != nil {
		t.Fatalf("9 MiB free: %v", err)
	}
}
