// Package scenario runs a whole testbench scenario against the real
// appliance binary: it starts Jaeger, a loopback Kafka broker with an alert
// consumer, simulated RTUs and OTLP traffic, then checks what the appliance
// stored and writes a JSON and a Markdown report.
package scenario

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/scadaotel/scadaotel/testbench/rtusim"
	"github.com/scadaotel/scadaotel/testbench/traffic"
)

// Scenario is one scenario file.
type Scenario struct {
	Name        string        `yaml:"name"`
	Description string        `yaml:"description"`
	Timeout     time.Duration `yaml:"timeout"`  // whole run, default 5m
	Duration    time.Duration `yaml:"duration"` // replay and traffic, default 20s
	Appliance   Appliance     `yaml:"appliance"`
	// Requires lists component types the scenario's appliance config uses
	// unconditionally; a binary lacking one gets a report whose only check
	// is "not built".
	Requires []string        `yaml:"requires"`
	Jaeger   Toggle          `yaml:"jaeger"`
	Kafka    KafkaConfig     `yaml:"kafka"`
	RTUs     *rtusim.Config  `yaml:"rtus"`
	Readback ReadbackConfig  `yaml:"readback"`
	Traffic  *traffic.Config `yaml:"traffic"`
	Checks   Checks          `yaml:"checks"`
	Alarms   AlarmsConfig    `yaml:"alarms"`

	// Dir is the directory of the scenario file; Root the repository root
	// that relative data paths are resolved against.
	Dir  string `yaml:"-"`
	Root string `yaml:"-"`
}

// Appliance is how the appliance is run.
type Appliance struct {
	// Config is a Go text/template of the collector config. Data: see
	// TemplateData.
	Config string `yaml:"config"`
	// Env is extra environment for the appliance ("K=V").
	Env []string `yaml:"env"`
}

// Toggle enables a part.
type Toggle struct {
	Enabled bool `yaml:"enabled"`
}

// KafkaConfig is the loopback broker and the alert consumer.
type KafkaConfig struct {
	Enabled bool   `yaml:"enabled"`
	Port    int    `yaml:"port"`  // 0: free port
	Topic   string `yaml:"topic"` // default scada.alerts
}

// ReadbackConfig reads the simulated RTUs back with a plain Modbus client
// and checks the values against the replay.
type ReadbackConfig struct {
	Enabled bool `yaml:"enabled"`
	// MinChangesSeen is the fraction of value changes that must be read
	// back while current (default 0.5).
	MinChangesSeen float64 `yaml:"min_changes_seen"`
}

// Checks holds thresholds.
type Checks struct {
	// TraceSample is how many original trace ids per tenant are looked up
	// in Jaeger (default 50).
	TraceSample int `yaml:"trace_sample"`
	// MinTraceRatio is the fraction of sampled traces that must be stored
	// (default 1).
	MinTraceRatio float64 `yaml:"min_trace_ratio"`
	// TraceWait bounds the wait for the last traces (default 30s).
	TraceWait time.Duration `yaml:"trace_wait"`
	// Repair thresholds, checked when the appliance has traceidrepair in
	// its config.
	MinRepairPrecision float64 `yaml:"min_repair_precision"`
	MinRepairRecall    float64 `yaml:"min_repair_recall"`
	// MaxAlertDelay bounds error-burst start -> alert on Kafka.
	MaxAlertDelay time.Duration `yaml:"max_alert_delay"`
	// AlertResolveWait, when set, makes burst_alert also wait (after the
	// traffic ended) up to this long for each burst key's resolved record,
	// then require exactly one firing and one resolved record per burst key
	// and none for any other key.
	AlertResolveWait time.Duration `yaml:"alert_resolve_wait"`
	// MinSamplesRatio is the fraction of expected samples (run time / poll
	// interval) every pressure and valve point must have stored (default 0.9).
	MinSamplesRatio float64 `yaml:"min_samples_ratio"`
	// MaxChangeLatencyP99 bounds register change -> queryable (0: report only).
	MaxChangeLatencyP99 time.Duration `yaml:"max_change_latency_p99"`
}

// Load reads a scenario file.
func Load(path string) (*Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s Scenario
	if err := yaml.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("scenario %s: %w", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	s.Dir = filepath.Dir(abs)
	s.Root = findRoot(s.Dir)
	if s.Name == "" {
		s.Name = filepath.Base(path)
	}
	if s.Timeout <= 0 {
		s.Timeout = 5 * time.Minute
	}
	if s.Duration <= 0 {
		s.Duration = 20 * time.Second
	}
	if s.Kafka.Topic == "" {
		s.Kafka.Topic = "scada.alerts"
	}
	if s.Readback.MinChangesSeen == 0 {
		s.Readback.MinChangesSeen = 0.5
	}
	if s.Checks.TraceSample == 0 {
		s.Checks.TraceSample = 50
	}
	if s.Checks.MinTraceRatio == 0 {
		s.Checks.MinTraceRatio = 1
	}
	if s.Checks.TraceWait == 0 {
		s.Checks.TraceWait = 30 * time.Second
	}
	if s.Checks.MinSamplesRatio == 0 {
		s.Checks.MinSamplesRatio = 0.9
	}
	if s.Checks.MaxAlertDelay == 0 {
		s.Checks.MaxAlertDelay = 90 * time.Second
	}
	if s.Appliance.Config == "" {
		return nil, fmt.Errorf("scenario %s: appliance.config: required", path)
	}
	if err := s.Alarms.validate(); err != nil {
		return nil, fmt.Errorf("scenario %s: %w", path, err)
	}
	if s.Alarms.Enabled && (s.RTUs == nil || !s.Kafka.Enabled) {
		return nil, fmt.Errorf("scenario %s: alarms.enabled needs an rtus section and kafka.enabled", path)
	}
	if s.Readback.Enabled && s.RTUs == nil {
		return nil, errors.New("readback.enabled needs an rtus section")
	}
	return &s, nil
}

// findRoot walks up from dir to the directory holding go.mod; without one
// it returns dir.
func findRoot(dir string) string {
	for d := dir; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		parent := filepath.Dir(d)
		if parent == d {
			return dir
		}
		d = parent
	}
}
