package rtusim

import (
	"context"
	"github.com/scadaotel/scadaotel/internal/thirdparty"
	"math"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/simonvetter/modbus"
)

func TestPlayerCompressesTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rep := &Replay{
			Points: []Point{{Name: "p", Unit: 1, Table: Holding, Address: 3, Type: "uint16", Scale: 1}},
			Updates: []Update{
				{At: 0, Point: 0, Raw: 1},
				{At: time.Hour, Point: 0, Raw: 2},
				{At: 2 * time.Hour, Point: 0, Raw: 3},
			},
		}
		r := NewRTU("r", "127.0.0.1:0", []uint8{1}, nil)
		p := &Player{Replay: rep, RTUs: []*RTU{r}, Compression: 60} // 1 h -> 1 min
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- p.Run(context.Background()) }()
		val := func() uint16 { v, _ := r.Bank.Get(1, Holding, 3); return v }
		synctest.Wait()
		if v := val(); v != 1 {
			t.Fatalf("at start: %d, want 1", v)
		}
		time.Sleep(59 * time.Second)
		synctest.Wait()
		if v := val(); v != 1 {
			t.Fatalf("after 59 s: %d, want 1", v)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if v := val(); v != 2 {
			t.Fatalf("after 60 s: %d, want 2", v)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got := time.Since(start); got != 2*time.Minute {
			t.Errorf("replay took %v, want 2m", got)
		}
		if v := val(); v != 3 || p.Applied[2].Sub(start) != 2*time.Minute {
			t.Errorf("end: value %d applied at %v", v, p.Applied[2].Sub(start))
		}
	})
}

func TestSyntheticBoundsAndValves(t *testing.T) {
	rep, err := Synthetic(SyntheticConfig{RTUs: 2, Units: []uint8{1, 2}, Pressures: 3, Valves: 2, Min: 30, Max: 40,
		Duration: 2 * time.Minute, ValveEvery: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Points) != 2*2*5 {
		t.Fatalf("%d points, want 20", len(rep.Points))
	}
	travels := 0
	for _, u := range rep.Updates {
		p := rep.Points[u.Point]
		switch p.Kind {
		case "pressure":
			if v := p.Decode(u.Raw); v < 30-0.01 || v > 40+0.01 {
				t.Fatalf("pressure %s = %v outside [30, 40]", p.Name, v)
			}
		case "valve":
			if _, ok := ValveStates[itoa(u.Raw)]; !ok {
				t.Fatalf("valve %s raw %d is not a state", p.Name, u.Raw)
			}
			if u.Raw == 2 {
				travels++
			}
		}
	}
	if travels < 8 {
		t.Errorf("only %d valve moves in 2 minutes", travels)
	}
}

func itoa(v uint16) string { return string(rune('0' + v)) }

// TestBatadalProfile reads the BATADAL CSV, which is not in the repository
// (no license to redistribute it): without it the test is skipped with a
// message saying where to get it (internal/thirdparty).
func TestBatadalProfile(t *testing.T) {
	file := thirdparty.Batadal(t)
	rep, err := LoadCSV(CSVConfig{File: file, Columns: []CSVColumn{
		{Column: "P_J280", Kind: "pressure", Type: "int16", Scale: 0.01, EngUnit: "m"},
		{Column: "L_T1", Table: "input", Address: 1, Scale: 0.001, EngUnit: "m"},
		{Column: "S_V2", Name: "valve_v2", Kind: "valve", Address: 2, States: map[string]string{"0": "closed", "1": "open"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := rep.Duration(); got != 2088*time.Hour {
		t.Errorf("profile spans %v, want 2088h (2089 hourly rows)", got)
	}
	// First row: P_J280 2.97, L_T1 0.73, S_V2 1.
	for i, want := range []float64{2.97, 0.73, 1} {
		raw, ok := rep.ValueAt(i, 0)
		if got := rep.Points[i].Decode(raw); !ok || math.Abs(got-want) > 1e-9 {
			t.Errorf("%s at t=0: %v, want %v", rep.Points[i].Name, got, want)
		}
	}
	if _, err := LoadCSV(CSVConfig{File: file, Columns: []CSVColumn{{Column: "NOPE"}}}); err == nil {
		t.Error("unknown column accepted")
	}
}

// TestPcapReplayReadBack replays modbus_test.pcap (one gateway, units 1, 2,
// 3 and 7) at 20x through a simulated RTU and reads every point back with a
// plain Modbus client: every value read must be one the capture's timeline
// held around the time of the read.
func TestPcapReplayReadBack(t *testing.T) {
	sim, err := New(Config{Compression: 20, Source: SourceConfig{Kind: "pcap",
		Pcap: PcapConfig{File: filepath.Join("..", "testdata", "modbus-iti", "modbus_test.pcap")}}}, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(sim.RTUs) != 1 || len(sim.RTUs[0].Units) != 4 {
		t.Fatalf("want one RTU serving 4 units, got %d RTUs, units %v", len(sim.RTUs), sim.RTUs[0].Units)
	}
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	defer sim.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sim.Run(ctx) }()
	defer cancel()

	c := client(t, sim.RTUs[0], time.Second)
	if err := c.Open(); err != nil {
		t.Fatal(err)
	}
	v := NewVerifier(sim.Replay)
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			res := v.Result(sim.Player.Applied)
			t.Logf("%+v", res)
			if res.Reads == 0 || res.Mismatches != 0 {
				t.Fatalf("reads %d, mismatches %d (first: %s)", res.Reads, res.Mismatches, res.FirstMismatch)
			}
			if res.ChangesSeen*2 < res.Changes {
				t.Errorf("saw only %d of %d value changes", res.ChangesSeen, res.Changes)
			}
			return
		default:
		}
		for i, p := range sim.Replay.Points {
			_ = c.SetUnitId(p.Unit)
			before := time.Now()
			var raw uint16
			var err error
			switch p.Table {
			case Input:
				raw, err = c.ReadRegister(p.Address, modbus.INPUT_REGISTER)
			case Holding:
				raw, err = c.ReadRegister(p.Address, modbus.HOLDING_REGISTER)
			default:
				var b bool
				b, err = c.ReadCoil(p.Address)
				if b {
					raw = 1
				}
			}
			if err != nil {
				t.Fatalf("read %s: %v", p.Name, err)
			}
			v.Observe(i, raw, before, time.Now())
		}
	}
}
