package bench

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStatMedianMinMax(t *testing.T) {
	s := NewStat([]float64{30, 10, 20})
	if s.Median != 20 || s.Min != 10 || s.Max != 30 {
		t.Fatalf("odd runs: got median %v min %v max %v, want 20 10 30", s.Median, s.Min, s.Max)
	}
	s = NewStat([]float64{4, 1, 3, 2})
	if s.Median != 2.5 || s.Min != 1 || s.Max != 4 {
		t.Fatalf("even runs: got median %v min %v max %v, want 2.5 1 4", s.Median, s.Min, s.Max)
	}
	// A failed run (NaN) is left out, not counted as zero.
	s = NewStat([]float64{5, math.NaN(), 7})
	if s.Median != 6 || s.Min != 5 || s.Max != 7 {
		t.Fatalf("with a failed run: got median %v min %v max %v, want 6 5 7", s.Median, s.Min, s.Max)
	}
	if len(s.Runs) != 3 {
		t.Fatalf("runs kept: %v", s.Runs)
	}
	if s = NewStat([]float64{math.NaN()}); !math.IsNaN(s.Median) {
		t.Fatalf("all runs failed: median %v, want NaN", s.Median)
	}
}

func TestFigureRatioAndGoal(t *testing.T) {
	atLeast70 := &Goal{Op: ">=", Bound: 0.7, Text: ">= 0.70"}
	atMost15 := &Goal{Op: "<=", Bound: 1.5, Text: "<= 1.5"}

	// Throughput: appliance 7,000 vs peer 10,000 spans/s is exactly the bound.
	f := NewFigure("max spans/s", "spans/s", []float64{6900, 7000, 7100}, []float64{9000, 10000, 11000}, atLeast70)
	if f.Ratio != 0.7 || f.Status != "pass" {
		t.Fatalf("ratio %v status %q, want 0.7 pass", f.Ratio, f.Status)
	}
	f = NewFigure("max spans/s", "spans/s", []float64{6000, 6900, 9000}, []float64{10000, 10000, 10000}, atLeast70)
	if math.Abs(f.Ratio-0.69) > 1e-12 || f.Status != "MISS" {
		t.Fatalf("ratio %v status %q, want 0.69 MISS", f.Ratio, f.Status)
	}
	// Cost: lower is better.
	f = NewFigure("CPU", "%", []float64{30, 31, 29}, []float64{20, 20, 20}, atMost15)
	if f.Ratio != 1.5 || f.Status != "pass" {
		t.Fatalf("ratio %v status %q, want 1.5 pass", f.Ratio, f.Status)
	}
	f = NewFigure("CPU", "%", []float64{31, 31, 31}, []float64{20, 20, 20}, atMost15)
	if f.Status != "MISS" {
		t.Fatalf("ratio %v status %q, want MISS", f.Ratio, f.Status)
	}
	// A peer that failed every run gives no ratio, and a goal is then missed, never passed.
	f = NewFigure("CPU", "%", []float64{1, 1, 1}, []float64{math.NaN(), math.NaN(), math.NaN()}, atMost15)
	if !math.IsNaN(f.Ratio) || f.Status != "MISS" {
		t.Fatalf("ratio %v status %q, want NaN MISS", f.Ratio, f.Status)
	}
	// A zero peer median gives no ratio either.
	if r := Ratio(5, 0); !math.IsNaN(r) {
		t.Fatalf("Ratio(5, 0) = %v, want NaN", r)
	}
	// No goal: reported only.
	if f = NewFigure("RSS", "MiB", []float64{100}, []float64{50}, nil); f.Status != "" || f.Ratio != 2 {
		t.Fatalf("no goal: ratio %v status %q", f.Ratio, f.Status)
	}
}

func TestCheckLoadRefusesBusyMachine(t *testing.T) {
	pub, err := CheckLoad(0.5, MaxLoad, false)
	if err != nil || !pub {
		t.Fatalf("load 0.5: publishable %v err %v, want true nil", pub, err)
	}
	pub, err = CheckLoad(0.51, MaxLoad, false)
	if err == nil || pub {
		t.Fatalf("load 0.51: publishable %v err %v, want a refusal", pub, err)
	}
	if !strings.Contains(err.Error(), "machine busy") || !strings.Contains(err.Error(), "0.51") {
		t.Fatalf("refusal does not say why: %v", err)
	}
	// The override runs, but the results are not publishable.
	pub, err = CheckLoad(3.2, MaxLoad, true)
	if err != nil || pub {
		t.Fatalf("override: publishable %v err %v, want false nil", pub, err)
	}
}

func TestParseLoadavg(t *testing.T) {
	l, err := ParseLoadavg("0.42 1.10 2.03 3/412 12345\n")
	if err != nil || l != [3]float64{0.42, 1.10, 2.03} {
		t.Fatalf("got %v %v", l, err)
	}
	if _, err := ParseLoadavg("garbage"); err == nil {
		t.Fatal("garbage parsed")
	}
}

func sampleResults(publishable bool) *Results {
	r := &Results{
		Started: time.Date(2026, 11, 25, 23, 40, 0, 0, time.UTC), Runs: 3, Publishable: publishable,
		Machine: Machine{CPUModel: "Test CPU", Cores: 2, LoadBefore: [3]float64{0.1, 0.2, 0.3}},
	}
	if !publishable {
		r.Warning = "load average 2.00 before the run"
	}
	r.Pairs = []Pair{{
		Name: "traces", Appliance: "a", Peer: "p", Input: "i",
		Figures: []Figure{
			NewFigure("max sustained", "spans/s", []float64{5000, 6000, 7000}, []float64{10000, 10000, 10000}, &Goal{Op: ">=", Bound: 0.7, Text: ">= 0.70"}),
			NewFigure("RSS", "MiB", []float64{100, 120, 110}, []float64{50, 50, 50}, nil),
		},
	}}
	return r
}

func TestWritersReportMissesAndPublishability(t *testing.T) {
	r := sampleResults(false)
	var md bytes.Buffer
	if err := r.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	s := md.String()
	for _, want := range []string{"NOT PUBLISHABLE", "Goals missed", "traces: max sustained (ratio 0.600, goal >= 0.70)",
		"| max sustained (spans/s) | 6,000 (5,000..7,000) | 10,000 (10,000..10,000) | 0.600 | >= 0.70 | **MISS** |",
		"| RSS (MiB) | 110 (100..120) | 50.0 (50.0..50.0) | 2.200 |  |  |"} {
		if !strings.Contains(s, want) {
			t.Errorf("markdown lacks %q:\n%s", want, s)
		}
	}
	var js bytes.Buffer
	r.Pairs[0].Figures = append(r.Pairs[0].Figures, NewFigure("failed", "x", []float64{math.NaN()}, []float64{1}, nil))
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Publishable bool `json:"publishable"`
		Pairs       []struct {
			Figures []struct {
				Name      string   `json:"name"`
				Ratio     *float64 `json:"ratio"`
				Status    string   `json:"status"`
				Appliance struct {
					Median *float64   `json:"median"`
					Runs   []*float64 `json:"runs"`
				} `json:"appliance"`
			} `json:"figures"`
		} `json:"pairs"`
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("json: %v\n%s", err, js.String())
	}
	f := back.Pairs[0].Figures
	if back.Publishable || len(f) != 3 || *f[0].Ratio != 0.6 || f[0].Status != "MISS" || *f[0].Appliance.Median != 6000 {
		t.Fatalf("json round trip wrong: %s", js.String())
	}
	if f[2].Ratio != nil || f[2].Appliance.Median != nil || f[2].Appliance.Runs[0] != nil {
		t.Fatalf("a failed run must be null in JSON: %s", js.String())
	}
}

func TestReplaceSection(t *testing.T) {
	r := sampleResults(true)
	sec := PerformanceSection(r, "bench/results/x.md")
	readme := "# t\n\nintro\n\n## Repository layout\n\nstuff\n"
	got := ReplaceSection(readme, sec)
	if !strings.Contains(got, "intro\n\n## Performance\n") || !strings.Contains(got, "\n## Repository layout\n\nstuff\n") {
		t.Fatalf("insert before layout:\n%s", got)
	}
	// Replacing again keeps exactly one section and the rest of the file.
	r.Pairs[0].Figures[0] = NewFigure("max sustained", "spans/s", []float64{9000}, []float64{10000}, &Goal{Op: ">=", Bound: 0.7, Text: ">= 0.70"})
	again := ReplaceSection(got, PerformanceSection(r, "bench/results/y.md"))
	if strings.Count(again, "## Performance") != 1 || !strings.Contains(again, "y.md") || strings.Contains(again, "x.md") ||
		!strings.Contains(again, "| 0.900 |") || !strings.HasSuffix(again, "## Repository layout\n\nstuff\n") {
		t.Fatalf("replace:\n%s", again)
	}
	// The last section of a file is replaced up to its end.
	tail := ReplaceSection("# t\n\n## Performance\n\nold\n", sec)
	if strings.Contains(tail, "old") || strings.Count(tail, "## Performance") != 1 {
		t.Fatalf("replace at end:\n%s", tail)
	}
}

func TestUpdateREADMEFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "README.md")
	orig := "# x\n\n## Performance\n\nNo run yet.\n\n## Repository layout\n\nkeep\n"
	if err := os.WriteFile(path, []byte(orig), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := UpdateREADME(path, sampleResults(true), "bench/results/2026-11-25T234000Z.md"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	if strings.Contains(got, "No run yet") || !strings.Contains(got, "[`bench/results/2026-11-25T234000Z.md`](bench/results/2026-11-25T234000Z.md)") ||
		!strings.Contains(got, "| traces | max sustained (spans/s) | 6,000 | 10,000 | 0.600 | >= 0.70 | **MISS** |") ||
		!strings.Contains(got, "Missed goals:") || !strings.HasSuffix(got, "## Repository layout\n\nkeep\n") {
		t.Fatalf("README after update:\n%s", got)
	}
}
