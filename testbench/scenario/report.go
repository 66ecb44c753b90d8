package scenario

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/scadaotel/scadaotel/internal/procstat"
	"github.com/scadaotel/scadaotel/testbench/rtusim"
	"github.com/scadaotel/scadaotel/testbench/traffic"
)

// Check statuses. Only fail makes the run fail; not_built and not_run are
// never counted as passed.
const (
	StatusPass     = "pass"
	StatusFail     = "fail"
	StatusNotBuilt = "not built"
	StatusNotRun   = "not run"
)

// Check is one verified property.
type Check struct {
	Name    string         `json:"name"`
	Status  string         `json:"status"`
	Detail  string         `json:"detail"`
	Metrics map[string]any `json:"metrics,omitempty"`
}

// Report is the outcome of a scenario run.
type Report struct {
	Scenario        string               `json:"scenario"`
	Description     string               `json:"description,omitempty"`
	Started         time.Time            `json:"started"`
	Finished        time.Time            `json:"finished"`
	Seconds         float64              `json:"seconds"`
	OutDir          string               `json:"out_dir"`
	Components      []string             `json:"appliance_components"`
	Checks          []Check              `json:"checks"`
	Readback        *rtusim.VerifyResult `json:"readback,omitempty"`
	Traffic         *traffic.Result      `json:"traffic,omitempty"`
	Appliance       *Usage               `json:"appliance_usage,omitempty"`
	ShutdownSeconds float64              `json:"appliance_shutdown_seconds"`
}

func (r *Report) add(c Check) { r.Checks = append(r.Checks, c) }

// Failed reports whether any check failed.
func (r *Report) Failed() bool {
	for _, c := range r.Checks {
		if c.Status == StatusFail {
			return true
		}
	}
	return false
}

func statusOf(ok bool) string {
	if ok {
		return StatusPass
	}
	return StatusFail
}

// Write stores report.json and report.md in the report's directory.
func (r *Report) Write() error {
	slices.Sort(r.Components)
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(r.OutDir, "report.json"), b, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(r.OutDir, "report.md"), []byte(r.Markdown()), 0o644)
}

// Markdown renders the report for people.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Scenario %s\n\n", r.Scenario)
	if r.Description != "" {
		fmt.Fprintf(&b, "%s\n\n", r.Description)
	}
	verdict := "PASS"
	if r.Failed() {
		verdict = "FAIL"
	}
	fmt.Fprintf(&b, "Result: **%s** (%s, %.1f s)\n\n", verdict, r.Started.UTC().Format(time.RFC3339), r.Seconds)
	b.WriteString("| check | status | detail |\n|---|---|---|\n")
	for _, c := range r.Checks {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", c.Name, c.Status, mdEscape(c.Detail))
	}
	if r.Traffic != nil {
		b.WriteString("\n## Traffic sent\n\n| tenant | requests | spans | error spans | rejected batches |\n|---|---|---|---|---|\n")
		var ids []string
		for id := range r.Traffic.Tenants {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			t := r.Traffic.Tenants[id]
			fmt.Fprintf(&b, "| %s | %d | %d | %d | %d |\n", id, t.Requests, t.Spans, t.ErrorSpans, t.Rejected)
		}
	}
	if r.Appliance != nil {
		fmt.Fprintf(&b, "\n## Appliance\n\nCPU %.2f s over %.1f s (%.1f%% of one core), RSS peak %.1f MiB, last %.1f MiB; shutdown %.2f s.\n",
			r.Appliance.CPUSeconds, r.Appliance.WallSeconds, r.Appliance.CPUPercent, r.Appliance.PeakRSSMiB, r.Appliance.LastRSSMiB, r.ShutdownSeconds)
	}
	b.WriteString("\n## Checks in detail\n\n")
	for _, c := range r.Checks {
		if len(c.Metrics) == 0 {
			continue
		}
		fmt.Fprintf(&b, "- %s:", c.Name)
		keys := make([]string, 0, len(c.Metrics))
		for k := range c.Metrics {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, " %s=%v", k, c.Metrics[k])
		}
		b.WriteString("\n")
	}
	return b.String()
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", " ", "<", "&lt;", ">", "&gt;").Replace(s)
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Usage is the appliance's CPU and memory during the run (from /proc).
type Usage struct {
	CPUSeconds  float64 `json:"cpu_seconds"`
	WallSeconds float64 `json:"wall_seconds"`
	CPUPercent  float64 `json:"cpu_percent"`
	PeakRSSMiB  float64 `json:"peak_rss_mib"`
	LastRSSMiB  float64 `json:"last_rss_mib"`
}

// startUsage follows pid's CPU time and resident set every 500 ms until
// usageSampler.stop.
func startUsage(pid int) usageSampler { return usageSampler{procstat.Start(pid, 500*time.Millisecond)} }

type usageSampler struct{ s *procstat.Sampler }

func (u usageSampler) stop() *Usage {
	m := u.s.Stop()
	return &Usage{CPUSeconds: m.CPUSeconds, WallSeconds: m.WallSeconds, CPUPercent: m.CPUPercent(),
		PeakRSSMiB: m.PeakRSSMiB, LastRSSMiB: m.LastRSSMiB}
}
