// Package bench measures the appliance side by side with the tools users
// would pick instead: a vanilla OpenTelemetry Collector config of
// the same binary for traces, a VictoriaMetrics single-node server for
// metrics and Telegraf's Modbus input for RTU polling. Each pair runs on the
// same machine, in the same run, on the same input; the answer is a ratio.
//
// This file is the results model and writer: every figure is the median of
// several runs with its min and max, the ratio of the appliance's median to
// the peer's, and the goal the ratio is held against.
package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MaxLoad is the highest 1-minute load average before a run whose figures
// may be published.
const MaxLoad = 0.5

// Stat is one figure of one side over its runs.
type Stat struct {
	Runs   []float64 `json:"runs"`
	Median float64   `json:"median"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
}

// NewStat summarises runs (NaN entries, failed runs, are left out).
func NewStat(runs []float64) Stat {
	s := Stat{Runs: runs, Median: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	var ok []float64
	for _, v := range runs {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			ok = append(ok, v)
		}
	}
	if len(ok) == 0 {
		return s
	}
	slices.Sort(ok)
	s.Min, s.Max = ok[0], ok[len(ok)-1]
	if n := len(ok); n%2 == 1 {
		s.Median = ok[n/2]
	} else {
		s.Median = (ok[n/2-1] + ok[n/2]) / 2
	}
	return s
}

// Goal bounds the ratio appliance/peer of a figure: Op is ">=" or "<=".
type Goal struct {
	Op    string  `json:"op"`
	Bound float64 `json:"bound"`
	Text  string  `json:"text"`
}

// Met says whether ratio meets the goal; a NaN ratio never does.
func (g Goal) Met(ratio float64) bool {
	if math.IsNaN(ratio) || math.IsInf(ratio, 0) {
		return false
	}
	switch g.Op {
	case ">=":
		return ratio >= g.Bound
	case "<=":
		return ratio <= g.Bound
	}
	return false
}

// Figure is one measured quantity of a pair.
type Figure struct {
	Name      string `json:"name"`
	Unit      string `json:"unit"`
	Appliance Stat   `json:"appliance"`
	Peer      Stat   `json:"peer"`
	// Ratio is Appliance.Median / Peer.Median (NaN when either is missing or the peer's is 0).
	Ratio float64 `json:"ratio"`
	Goal  *Goal   `json:"goal,omitempty"`
	// Status is "pass", "MISS" or "" (no goal).
	Status string `json:"status,omitempty"`
}

// NewFigure summarises both sides' runs, computes the ratio and holds it
// against goal (nil: reported only).
func NewFigure(name, unit string, appliance, peer []float64, goal *Goal) Figure {
	f := Figure{Name: name, Unit: unit, Appliance: NewStat(appliance), Peer: NewStat(peer), Goal: goal}
	f.Ratio = Ratio(f.Appliance.Median, f.Peer.Median)
	if goal != nil {
		f.Status = "MISS"
		if goal.Met(f.Ratio) {
			f.Status = "pass"
		}
	}
	return f
}

// Ratio is a/b, NaN when either is not a number or b is 0.
func Ratio(a, b float64) float64 {
	if math.IsNaN(a) || math.IsNaN(b) || b == 0 {
		return math.NaN()
	}
	return a / b
}

// Pair is one comparison: the appliance against one peer.
type Pair struct {
	Name      string   `json:"name"`
	Appliance string   `json:"appliance"`
	Peer      string   `json:"peer"`
	Input     string   `json:"input"`
	Method    []string `json:"method,omitempty"`
	Figures   []Figure `json:"figures"`
	Notes     []string `json:"notes,omitempty"`
	Errors    []string `json:"errors,omitempty"`
	Seconds   float64  `json:"seconds"`
}

// Misses are the figures of the pair whose goal was not met.
func (p *Pair) Misses() []Figure {
	var m []Figure
	for _, f := range p.Figures {
		if f.Status == "MISS" {
			m = append(m, f)
		}
	}
	return m
}

// Machine describes where the run happened.
type Machine struct {
	CPUModel   string     `json:"cpu_model"`
	Cores      int        `json:"cores"`
	MemTotalMB float64    `json:"mem_total_mib"`
	Kernel     string     `json:"kernel,omitempty"`
	LoadBefore [3]float64 `json:"load_before"`
	LoadAfter  [3]float64 `json:"load_after"`
}

// Results is one `make bench` run.
type Results struct {
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Seconds  float64   `json:"seconds"`
	Commit   string    `json:"commit,omitempty"`
	Runs     int       `json:"runs"`
	Machine  Machine   `json:"machine"`
	// Publishable is false for a run on a busy machine (forced with the
	// override flag): its figures must not be quoted.
	Publishable bool   `json:"publishable"`
	Warning     string `json:"warning,omitempty"`
	Pairs       []Pair `json:"pairs"`
}

// CheckLoad decides whether a run may start: with the 1-minute load
// average above max it refuses (an error that says so), unless override is
// set, in which case the run goes ahead marked not publishable.
func CheckLoad(load1, max float64, override bool) (publishable bool, err error) {
	if load1 <= max {
		return true, nil
	}
	if override {
		return false, nil
	}
	return false, fmt.Errorf("machine busy: load average %.2f before the run is above %.2f; refusing to publish figures "+
		"(wait for an idle machine, or pass --allow-busy for a development run whose results are marked NOT publishable)", load1, max)
}

// Misses lists every figure that missed its goal, as "pair: figure".
func (r *Results) Misses() []string {
	var out []string
	for _, p := range r.Pairs {
		for _, f := range p.Misses() {
			out = append(out, fmt.Sprintf("%s: %s (ratio %s, goal %s)", p.Name, f.Name, fmtRatio(f.Ratio), f.Goal.Text))
		}
	}
	return out
}

func (r *Results) hasGoals() bool {
	for _, p := range r.Pairs {
		for _, f := range p.Figures {
			if f.Goal != nil {
				return true
			}
		}
	}
	return false
}

// WriteJSON writes the results as indented JSON (NaN as null).
func (r *Results) WriteJSON(w io.Writer) error {
	b, err := json.MarshalIndent(jsonSafe(r), "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// jsonSafe round-trips r through a map with NaN replaced by nil, since
// encoding/json refuses NaN.
func jsonSafe(r *Results) any {
	c := *r
	c.Pairs = make([]Pair, len(r.Pairs))
	for i, p := range r.Pairs {
		p.Figures = slices.Clone(p.Figures)
		c.Pairs[i] = p
	}
	type stat struct {
		Runs   []*float64 `json:"runs"`
		Median *float64   `json:"median"`
		Min    *float64   `json:"min"`
		Max    *float64   `json:"max"`
	}
	type figure struct {
		Name      string   `json:"name"`
		Unit      string   `json:"unit"`
		Appliance stat     `json:"appliance"`
		Peer      stat     `json:"peer"`
		Ratio     *float64 `json:"ratio"`
		Goal      *Goal    `json:"goal,omitempty"`
		Status    string   `json:"status,omitempty"`
	}
	num := func(v float64) *float64 {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil
		}
		return &v
	}
	conv := func(s Stat) stat {
		o := stat{Median: num(s.Median), Min: num(s.Min), Max: num(s.Max), Runs: []*float64{}}
		for _, v := range s.Runs {
			o.Runs = append(o.Runs, num(v))
		}
		return o
	}
	type pair struct {
		Pair
		Figures []figure `json:"figures"`
	}
	type results struct {
		Results
		Pairs []pair `json:"pairs"`
	}
	out := results{Results: c}
	for _, p := range c.Pairs {
		pp := pair{Pair: p}
		for _, f := range p.Figures {
			pp.Figures = append(pp.Figures, figure{Name: f.Name, Unit: f.Unit, Appliance: conv(f.Appliance), Peer: conv(f.Peer),
				Ratio: num(f.Ratio), Goal: f.Goal, Status: f.Status})
		}
		out.Pairs = append(out.Pairs, pp)
	}
	return out
}

// WriteMarkdown writes the human-readable report.
func (r *Results) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# scadaotel side-by-side benchmark, %s\n\n", r.Started.UTC().Format("2006-01-02 15:04 UTC"))
	if !r.Publishable {
		fmt.Fprintf(&b, "**NOT PUBLISHABLE**: %s\n\n", r.Warning)
	}
	m := r.Machine
	fmt.Fprintf(&b, "| machine | |\n|---|---|\n")
	fmt.Fprintf(&b, "| CPU | %s, %d cores |\n", m.CPUModel, m.Cores)
	fmt.Fprintf(&b, "| memory | %.0f MiB |\n", m.MemTotalMB)
	if m.Kernel != "" {
		fmt.Fprintf(&b, "| kernel | %s |\n", m.Kernel)
	}
	fmt.Fprintf(&b, "| load before (1/5/15 min) | %.2f / %.2f / %.2f (publishable only at <= %.1f) |\n", m.LoadBefore[0], m.LoadBefore[1], m.LoadBefore[2], MaxLoad)
	fmt.Fprintf(&b, "| load after | %.2f / %.2f / %.2f |\n", m.LoadAfter[0], m.LoadAfter[1], m.LoadAfter[2])
	if r.Commit != "" {
		fmt.Fprintf(&b, "| commit | %s |\n", r.Commit)
	}
	fmt.Fprintf(&b, "| runs per figure | %d (median, min..max) |\n", r.Runs)
	fmt.Fprintf(&b, "| wall time | %.0f s |\n\n", r.Seconds)

	b.WriteString("Ratio = appliance median / peer median. Goals: traces >= 0.70 of vanilla's max spans/s, <= 1.5x its CPU and <= 1.3x its peak RSS at 10k spans/s, >= 3x the durable peer's max spans/s; " +
		"metrics >= 0.80 of VictoriaMetrics' samples/s, <= 1.3x its CPU per sample and <= 1.05x its disk bytes per sample; polling CPU per sample <= 0.5x Telegraf's and peak RSS <= Telegraf's.\n\n")
	if ms := r.Misses(); len(ms) > 0 {
		b.WriteString("**Goals missed:**\n\n")
		for _, s := range ms {
			fmt.Fprintf(&b, "- %s\n", s)
		}
		b.WriteString("\n")
	} else if r.hasGoals() {
		b.WriteString("Every goal was met.\n\n")
	}
	b.WriteString(SummaryTable(r))
	for _, p := range r.Pairs {
		fmt.Fprintf(&b, "\n## %s\n\n", p.Name)
		fmt.Fprintf(&b, "- appliance: %s\n- peer: %s\n- input: %s\n", p.Appliance, p.Peer, p.Input)
		for _, s := range p.Method {
			fmt.Fprintf(&b, "- %s\n", s)
		}
		fmt.Fprintf(&b, "- pair wall time: %.0f s\n\n", p.Seconds)
		b.WriteString("| figure | appliance median (min..max) | peer median (min..max) | ratio | goal | result |\n|---|---|---|---|---|---|\n")
		for _, f := range p.Figures {
			goal, status := "", ""
			if f.Goal != nil {
				goal, status = f.Goal.Text, f.Status
				if status == "MISS" {
					status = "**MISS**"
				}
			}
			fmt.Fprintf(&b, "| %s (%s) | %s | %s | %s | %s | %s |\n", f.Name, f.Unit, fmtStat(f.Appliance), fmtStat(f.Peer), fmtRatio(f.Ratio), goal, status)
		}
		if len(p.Notes) > 0 {
			b.WriteString("\n")
			for _, n := range p.Notes {
				fmt.Fprintf(&b, "- %s\n", n)
			}
		}
		if len(p.Errors) > 0 {
			b.WriteString("\nErrors:\n\n")
			for _, e := range p.Errors {
				fmt.Fprintf(&b, "- %s\n", e)
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// SummaryTable is the short table of ratios (the README's Performance section).
func SummaryTable(r *Results) string {
	var b strings.Builder
	b.WriteString("| pair | figure | appliance | peer | ratio | goal | result |\n|---|---|---|---|---|---|---|\n")
	for _, p := range r.Pairs {
		for _, f := range p.Figures {
			goal, status := "", ""
			if f.Goal != nil {
				goal, status = f.Goal.Text, f.Status
				if status == "MISS" {
					status = "**MISS**"
				}
			}
			fmt.Fprintf(&b, "| %s | %s (%s) | %s | %s | %s | %s | %s |\n", p.Name, f.Name, f.Unit, fmtNum(f.Appliance.Median), fmtNum(f.Peer.Median), fmtRatio(f.Ratio), goal, status)
		}
	}
	return b.String()
}

func fmtStat(s Stat) string {
	if math.IsNaN(s.Median) {
		return "n/a"
	}
	return fmt.Sprintf("%s (%s..%s)", fmtNum(s.Median), fmtNum(s.Min), fmtNum(s.Max))
}

func fmtRatio(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	return strconv.FormatFloat(v, 'f', 3, 64)
}

// fmtNum prints 3 significant digits, with thousands separators above 1000.
func fmtNum(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	a := math.Abs(v)
	switch {
	case a >= 1000:
		s := strconv.FormatFloat(math.Round(v), 'f', 0, 64)
		neg := strings.HasPrefix(s, "-")
		s = strings.TrimPrefix(s, "-")
		var out []byte
		for i, c := range []byte(s) {
			if i > 0 && (len(s)-i)%3 == 0 {
				out = append(out, ',')
			}
			out = append(out, c)
		}
		if neg {
			return "-" + string(out)
		}
		return string(out)
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case a == 0:
		return "0"
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}

// Write writes <dir>/<stamp>.md and .json and returns their paths.
func (r *Results) Write(dir string) (md, js string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	stamp := r.Started.UTC().Format("2006-01-02T150405Z")
	md = filepath.Join(dir, stamp+".md")
	js = filepath.Join(dir, stamp+".json")
	for path, write := range map[string]func(io.Writer) error{md: r.WriteMarkdown, js: r.WriteJSON} {
		f, err := os.Create(path)
		if err != nil {
			return "", "", err
		}
		if err := write(f); err != nil {
			f.Close()
			return "", "", fmt.Errorf("write %s: %w", path, err)
		}
		if err := f.Close(); err != nil {
			return "", "", err
		}
	}
	return md, js, nil
}

// Section markers of the README's Performance section.
const (
	readmeHeading = "## Performance"
)

// UpdateREADME replaces (or appends before "## Repository layout", else at
// the end) the "## Performance" section of the README at path with the
// latest ratios, linking the results file mdRel.
func UpdateREADME(path string, r *Results, mdRel string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	section := PerformanceSection(r, mdRel)
	return os.WriteFile(path, []byte(ReplaceSection(string(b), section)), 0o644)
}

// PerformanceSection renders the README section.
func PerformanceSection(r *Results, mdRel string) string {
	var b strings.Builder
	b.WriteString(readmeHeading + "\n\n")
	fmt.Fprintf(&b, "Latest `make bench` (%s, %s, %d cores, load before %.2f; median of %d runs each; "+
		"ratio = appliance / peer, same binary or peer on the same machine in the same run). Full results: [`%s`](%s).\n\n",
		r.Started.UTC().Format("2006-01-02"), r.Machine.CPUModel, r.Machine.Cores, r.Machine.LoadBefore[0], r.Runs, mdRel, mdRel)
	b.WriteString(SummaryTable(r))
	if ms := r.Misses(); len(ms) > 0 {
		b.WriteString("\nMissed goals: " + strings.Join(ms, "; ") + ".\n")
	}
	b.WriteString("\n")
	return b.String()
}

// ReplaceSection puts section in place of the README's Performance section
// (from its heading to the next "## " heading), or inserts it before
// "## Repository layout", or appends it.
func ReplaceSection(readme, section string) string {
	if i := strings.Index(readme, "\n"+readmeHeading+"\n"); i >= 0 {
		start := i + 1
		rest := readme[start+len(readmeHeading):]
		end := len(readme)
		if j := strings.Index(rest, "\n## "); j >= 0 {
			end = start + len(readmeHeading) + j + 1
		}
		return readme[:start] + section + readme[end:]
	}
	if i := strings.Index(readme, "\n## Repository layout\n"); i >= 0 {
		return readme[:i+1] + section + readme[i+1:]
	}
	if !strings.HasSuffix(readme, "\n") {
		readme += "\n"
	}
	return readme + "\n" + section
}
