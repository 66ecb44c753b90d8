package iec104receiver

import (
	"errors"
	"fmt"
	"github.com/scadaotel/scadaotel/internal/scadaseries"
	"net/url"
	"time"
	// time_zone names an IANA zone; the appliance is one static binary,
	// often run where /usr/share/zoneinfo is missing (+450 KB)
	_ "time/tzdata"

	"github.com/scadaotel/scadaotel/internal/iec104"
	"github.com/scadaotel/scadaotel/tenants"
)

// Point kinds, as in the scada receiver.
const (
	KindPressure = "pressure"
	KindValve    = "valve"
	KindGeneric  = "generic"
)

// Double point states: the keys of a valve's states.
const (
	StateIntermediate  = "intermediate" // DPI 0
	StateOff           = "off"          // DPI 1
	StateOn            = "on"           // DPI 2
	StateIndeterminate = "indeterminate"
)

// dpiStates are the state keys by DPI value (a single point uses off/on).
var dpiStates = [4]string{StateIntermediate, StateOff, StateOn, StateIndeterminate}

// defaultValveStates map double point states to the statuses the scada
// receiver's valves use.
var defaultValveStates = map[string]string{
	StateOff: "closed", StateOn: "open", StateIntermediate: "travel", StateIndeterminate: "fault",
}

// NT handling (not_topical).
const (
	NotTopicalQuality = "not_topical" // the sample keeps its value under quality="not_topical"
	NotTopicalBad     = "bad"
)

// Config is the iec104 receiver configuration.
type Config struct {
	// COTSize, CASize and IOASize are the ASDU field sizes in octets
	// (IEC 104: 2, 2, 3; some DL/T 634.5104 profiles differ).
	COTSize int `mapstructure:"cot_size"`
	CASize  int `mapstructure:"ca_size"`
	IOASize int `mapstructure:"ioa_size"`
	// K is the most unacknowledged I frames sent, W the most received
	// before acknowledging.
	K int `mapstructure:"k"`
	W int `mapstructure:"w"`
	// T0..T3 are the link timers: connect, send/test confirmation,
	// acknowledgement delay, idle test.
	T0 time.Duration `mapstructure:"t0"`
	T1 time.Duration `mapstructure:"t1"`
	T2 time.Duration `mapstructure:"t2"`
	T3 time.Duration `mapstructure:"t3"`
	// InterrogationInterval repeats the general interrogation (it is always
	// sent when a link starts); 0 sends it on connect only.
	InterrogationInterval time.Duration `mapstructure:"interrogation_interval"`
	// CounterInterrogationInterval sends C_CI_NA_1 on connect and at this
	// interval; 0 never.
	CounterInterrogationInterval time.Duration `mapstructure:"counter_interrogation_interval"`
	// ClockSync sends C_CS_NA_1 with the appliance's time on connect.
	ClockSync bool `mapstructure:"clock_sync"`
	// StatusInterval is how often scada_rtu_up is sent (1 while the link is
	// started, as the scada receiver does per poll) and, while the link is
	// down, the comm_lost samples of every point.
	StatusInterval time.Duration `mapstructure:"status_interval"`
	// TimeZone is the zone of the outstations' CP56Time2a time tags.
	TimeZone string `mapstructure:"time_zone"`
	// NotTopical is the quality of a value with NT set: not_topical or bad.
	NotTopical string `mapstructure:"not_topical"`
	// Discovery exports unconfigured points as iec104_point{ca,ioa,type}.
	Discovery    bool            `mapstructure:"discovery"`
	Reconnect    ReconnectConfig `mapstructure:"reconnect"`
	RetryBatches int             `mapstructure:"retry_batches"`
	LogInterval  time.Duration   `mapstructure:"log_interval"`
	// PointSets are named point lists that outstations can share.
	PointSets   map[string][]PointConfig `mapstructure:"point_sets"`
	Outstations []OutstationConfig       `mapstructure:"outstations"`
}

// ReconnectConfig is an exponential backoff with jitter.
type ReconnectConfig struct {
	InitialInterval time.Duration `mapstructure:"initial_interval"`
	MaxInterval     time.Duration `mapstructure:"max_interval"`
	Jitter          float64       `mapstructure:"jitter"`
}

// OutstationConfig is one controlled station (RTU).
type OutstationConfig struct {
	Name string `mapstructure:"name"`
	// Endpoint is tcp://host:port (port 2404 by convention).
	Endpoint string `mapstructure:"endpoint"`
	// BackupEndpoint is a redundant address tried after the first fails.
	BackupEndpoint string `mapstructure:"backup_endpoint"`
	Tenant         string `mapstructure:"tenant"`
	Station        string `mapstructure:"station"`
	// CommonAddress is the default common address of its points.
	CommonAddress int           `mapstructure:"common_address"`
	PointSets     []string      `mapstructure:"point_sets"`
	Points        []PointConfig `mapstructure:"points"`
}

// PointConfig maps one information object to a series.
type PointConfig struct {
	Name string `mapstructure:"name"`
	Kind string `mapstructure:"kind"`
	IOA  int    `mapstructure:"ioa"`
	// CommonAddress overrides the outstation's.
	CommonAddress int     `mapstructure:"common_address"`
	Scale         float64 `mapstructure:"scale"`
	Offset        float64 `mapstructure:"offset"`
	Unit          string  `mapstructure:"unit"`
	// States maps off/on/intermediate/indeterminate to status names (valves).
	States map[string]string `mapstructure:"states"`
}

func createDefaultConfig() *Config {
	return &Config{
		COTSize: 2, CASize: 2, IOASize: 3,
		K: 12, W: 8,
		T0: 30 * time.Second, T1: 15 * time.Second, T2: 10 * time.Second, T3: 20 * time.Second,
		InterrogationInterval: 2 * time.Minute,
		StatusInterval:        10 * time.Second,
		TimeZone:              "UTC",
		NotTopical:            NotTopicalQuality,
		Reconnect:             ReconnectConfig{InitialInterval: time.Second, MaxInterval: 30 * time.Second, Jitter: 0.2},
		RetryBatches:          16,
		LogInterval:           30 * time.Second,
	}
}

func (c *Config) params() iec104.Params {
	return iec104.Params{COTSize: c.COTSize, CASize: c.CASize, IOASize: c.IOASize}
}

// outstationPoints returns the outstation's point sets followed by its own points.
func (c *Config) outstationPoints(o *OutstationConfig) []PointConfig {
	var out []PointConfig
	for _, ps := range o.PointSets {
		out = append(out, c.PointSets[ps]...)
	}
	return append(out, o.Points...)
}

func validName(s string) bool {
	if s == "" || len(s) > 200 {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '_', r == ':':
		case r >= '0' && r <= '9', r == '.' || r == '-':
			if i == 0 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// Validate checks the configuration; errors name the offending key.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	p := c.params()
	if p.COTSize != 1 && p.COTSize != 2 {
		add("cot_size: %d must be 1 or 2", c.COTSize)
	}
	if p.CASize != 1 && p.CASize != 2 {
		add("ca_size: %d must be 1 or 2", c.CASize)
	}
	if p.IOASize < 1 || p.IOASize > 3 {
		add("ioa_size: %d must be 1, 2 or 3", c.IOASize)
	}
	if c.K < 1 || c.K > 32767 {
		add("k: %d must be in [1, 32767]", c.K)
	}
	if c.W < 1 || c.W > c.K {
		add("w: %d must be in [1, k] (the standard recommends w ≤ 2k/3)", c.W)
	}
	for _, t := range []struct {
		key string
		d   time.Duration
	}{{"t0", c.T0}, {"t1", c.T1}, {"t2", c.T2}, {"t3", c.T3}} {
		if t.d <= 0 {
			add("%s: must be positive", t.key)
		}
	}
	if c.T2 >= c.T1 {
		add("t2: %v must be below t1 %v", c.T2, c.T1)
	}
	if c.InterrogationInterval < 0 {
		add("interrogation_interval: must not be negative")
	}
	if c.CounterInterrogationInterval < 0 {
		add("counter_interrogation_interval: must not be negative")
	}
	if c.StatusInterval <= 0 {
		add("status_interval: must be positive")
	}
	if _, err := time.LoadLocation(c.TimeZone); err != nil {
		add("time_zone: %w", err)
	}
	if c.NotTopical != NotTopicalQuality && c.NotTopical != NotTopicalBad {
		add("not_topical: %q must be not_topical or bad", c.NotTopical)
	}
	if c.Reconnect.InitialInterval <= 0 {
		add("reconnect.initial_interval: must be positive")
	}
	if c.Reconnect.MaxInterval < c.Reconnect.InitialInterval {
		add("reconnect.max_interval: %v is below reconnect.initial_interval %v", c.Reconnect.MaxInterval, c.Reconnect.InitialInterval)
	}
	if c.Reconnect.Jitter < 0 || c.Reconnect.Jitter > 1 {
		add("reconnect.jitter: %v must be in [0, 1]", c.Reconnect.Jitter)
	}
	if c.RetryBatches < 0 {
		add("retry_batches: %d must not be negative", c.RetryBatches)
	}
	if c.LogInterval < 0 {
		add("log_interval: must not be negative")
	}
	maxCA := 1<<(8*min(max(p.CASize, 1), 2)) - 1
	maxIOA := 1<<(8*min(max(p.IOASize, 1), 3)) - 1
	for name, pts := range c.PointSets {
		for j := range pts {
			if err := validatePoint(pts[j], maxCA, maxIOA); err != nil {
				add("point_sets.%s[%d]: %w", name, j, err)
			}
		}
	}
	if len(c.Outstations) == 0 {
		add("outstations: at least one outstation is required")
	}
	names := map[string]bool{}
	for i := range c.Outstations {
		o := &c.Outstations[i]
		key := fmt.Sprintf("outstations[%d]", i)
		if o.Name != "" {
			key = fmt.Sprintf("outstations[%d] (%s)", i, o.Name)
		}
		if o.Name == "" {
			add("%s.name: required", key)
		} else if names[o.Name] {
			add("%s.name: duplicate outstation %q", key, o.Name)
		}
		names[o.Name] = true
		if err := scadaseries.CheckTCPEndpoint(o.Endpoint); err != nil {
			add("%s.endpoint: %w", key, err)
		}
		if o.BackupEndpoint != "" {
			if err := scadaseries.CheckTCPEndpoint(o.BackupEndpoint); err != nil {
				add("%s.backup_endpoint: %w", key, err)
			}
		}
		if err := tenants.CheckID(o.Tenant); err != nil {
			add("%s.tenant: %w", key, err)
		}
		if o.Station == "" {
			add("%s.station: required", key)
		}
		if o.CommonAddress < 0 || o.CommonAddress > maxCA {
			add("%s.common_address: %d must be in [0, %d]", key, o.CommonAddress, maxCA)
		}
		for _, ps := range o.PointSets {
			if _, ok := c.PointSets[ps]; !ok {
				add("%s.point_sets: unknown point set %q", key, ps)
			}
		}
		for j := range o.Points {
			if err := validatePoint(o.Points[j], maxCA, maxIOA); err != nil {
				add("%s.points[%d]: %w", key, j, err)
			}
		}
		pts := c.outstationPoints(o)
		if len(pts) == 0 && !c.Discovery {
			add("%s: no points (set points or point_sets, or discovery: true)", key)
		}
		seenName := map[string]bool{}
		seenAddr := map[[2]int]string{}
		for _, p := range pts {
			if p.Name != "" && seenName[p.Name] {
				add("%s: duplicate point name %q", key, p.Name)
			}
			seenName[p.Name] = true
			ca := p.CommonAddress
			if ca == 0 {
				ca = o.CommonAddress
			}
			a := [2]int{ca, p.IOA}
			if other, dup := seenAddr[a]; dup {
				add("%s: points %q and %q share common address %d, IOA %d", key, other, p.Name, ca, p.IOA)
			}
			seenAddr[a] = p.Name
		}
	}
	return errors.Join(errs...)
}

func validatePoint(p PointConfig, maxCA, maxIOA int) error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if !validName(p.Name) {
		add("name: %q must match [a-zA-Z_:][a-zA-Z0-9_:.-]*", p.Name)
	}
	switch p.Kind {
	case KindPressure, KindValve, KindGeneric:
	case "":
		add("kind: required (pressure, valve or generic)")
	default:
		add("kind: %q must be pressure, valve or generic", p.Kind)
	}
	if p.IOA < 0 || p.IOA > maxIOA {
		add("ioa: %d must be in [0, %d] (ioa_size)", p.IOA, maxIOA)
	}
	if p.CommonAddress < 0 || p.CommonAddress > maxCA {
		add("common_address: %d must be in [0, %d] (ca_size)", p.CommonAddress, maxCA)
	}
	if p.Kind == KindValve {
		for k, v := range p.States {
			switch k {
			case StateOff, StateOn, StateIntermediate, StateIndeterminate:
			default:
				add("states.%s: must be off, on, intermediate or indeterminate", k)
			}
			if v == "" {
				add("states.%s: empty status name", k)
			}
		}
		if p.Scale != 0 && p.Scale != 1 || p.Offset != 0 {
			add("scale/offset: not applicable to valves (states map the double point)")
		}
	} else if len(p.States) != 0 {
		add("states: only valid for kind valve")
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("point %q: %w", p.Name, errors.Join(errs...))
}

func hostPort(ep string) string {
	u, err := url.Parse(ep)
	if err != nil {
		return ep
	}
	return u.Host
}
