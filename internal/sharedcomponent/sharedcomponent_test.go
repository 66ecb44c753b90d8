package sharedcomponent

import (
	"errors"
	"testing"

	"go.opentelemetry.io/collector/component"
)

func TestOneCorePerIDStartedOnceStoppedByTheLast(t *testing.T) {
	var m Map[*int]
	id := component.MustNewID("alarm")
	created := 0
	create := func() *int { created++; v := created; return &v }
	a := m.Acquire(id, create)
	b := m.Acquire(id, create)
	if a.Value() != b.Value() || created != 1 {
		t.Fatalf("two instances of one id got different cores (%d created)", created)
	}
	if other := m.Acquire(component.MustNewIDWithName("alarm", "b"), create); other.Value() == a.Value() {
		t.Fatal("another id shares the core")
	}
	starts, stops := 0, 0
	start := func() error { starts++; return nil }
	stop := func() error { stops++; return nil }
	for _, in := range []*Instance[*int]{a, b, a} {
		if err := in.Start(start); err != nil {
			t.Fatal(err)
		}
	}
	if starts != 1 {
		t.Fatalf("started %d times, want once", starts)
	}
	for range 2 { // a second Shutdown of one instance counts once
		if err := a.Shutdown(stop); err != nil || stops != 0 {
			t.Fatalf("shutting down one instance stopped the core (%d stops, %v) while another runs", stops, err)
		}
	}
	if err := b.Shutdown(stop); err != nil || stops != 1 {
		t.Fatalf("last shutdown: %d stops, %v; want one", stops, err)
	}
	if c := m.Acquire(id, create); c.Value() == a.Value() || created != 3 {
		t.Fatal("a core shut down by all its instances is handed out again")
	}
}

func TestFailedStartIsNotCountedAndShutdownStopsNothing(t *testing.T) {
	var m Map[string]
	id := component.MustNewID("x")
	in := m.Acquire(id, func() string { return "core" })
	boom := errors.New("boom")
	if err := in.Start(func() error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("start error %v not returned", err)
	}
	stopped := false
	if err := in.Shutdown(func() error { stopped = true; return nil }); err != nil || stopped {
		t.Fatalf("shutdown after a failed start stopped the core (%v)", err)
	}
	if len(m.cores) != 0 {
		t.Fatal("the core is still held after its only instance shut down")
	}
}
