package scadareceiver

import (
	"cmp"
	"errors"
	"fmt"
	"github.com/scadaotel/scadaotel/internal/scadaseries"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/confmap"

	"github.com/scadaotel/scadaotel/tenants"
)

// Point kinds.
const (
	KindPressure = "pressure"
	KindValve    = "valve"
	KindGeneric  = "generic"
)

// Register types.
const (
	RegCoil     = "coil"
	RegDiscrete = "discrete"
	RegHolding  = "holding"
	RegInput    = "input"
)

// Protocol limits per read request (Modbus application protocol v1.1b3, FC1-4).
const (
	maxRegsPerRead = 125
	maxBitsPerRead = 2000
)

// Config is the scada receiver configuration.
type Config struct {
	// PollGroups maps a poll group name to its interval. The defaults
	// (pressure 500ms, valve 2s, generic 1s) are kept unless overridden.
	PollGroups map[string]time.Duration `mapstructure:"poll_groups"`
	// MaxGap is the largest number of unused registers between two points
	// that are still read in one request.
	MaxGap int `mapstructure:"max_gap"`
	// MaxGapBits is the same for coils and discrete inputs, in bits.
	MaxGapBits int `mapstructure:"max_gap_bits"`
	// MaxConcurrency bounds the polls running at the same time.
	MaxConcurrency int `mapstructure:"max_concurrency"`
	// MaxPollsPerSlot spreads a large poll group over slots within its
	// interval, each firing at most this many polls from one timer wake-up
	// (0 fires all of a tick's polls at once).
	MaxPollsPerSlot int `mapstructure:"max_polls_per_slot"`
	// Reconnect is the backoff used after a connection fault.
	Reconnect ReconnectConfig `mapstructure:"reconnect"`
	// RetryBatches bounds the batches per RTU kept for retry after the next
	// consumer refused them (e.g. memory_limiter).
	RetryBatches int `mapstructure:"retry_batches"`
	// LogInterval rate-limits fault log lines per RTU and fault kind.
	LogInterval time.Duration `mapstructure:"log_interval"`
	// Gateways are TCP gateways shared by several unit ids.
	Gateways []GatewayConfig `mapstructure:"gateways"`
	// PointSets are named point lists that RTUs can share.
	PointSets map[string][]PointConfig `mapstructure:"point_sets"`
	// RTUs to poll.
	RTUs []RTUConfig `mapstructure:"rtus"`
}

// ReconnectConfig is an exponential backoff with jitter.
type ReconnectConfig struct {
	InitialInterval time.Duration `mapstructure:"initial_interval"`
	MaxInterval     time.Duration `mapstructure:"max_interval"`
	// Jitter is the fraction (0..1) of random spread added to each wait.
	Jitter float64 `mapstructure:"jitter"`
}

// GatewayConfig is one TCP endpoint in front of several unit ids; its RTUs
// share one connection and their requests are serialised.
type GatewayConfig struct {
	Name     string        `mapstructure:"name"`
	Endpoint string        `mapstructure:"endpoint"`
	Timeout  time.Duration `mapstructure:"timeout"`
}

// RTUConfig is one Modbus slave.
type RTUConfig struct {
	Name     string `mapstructure:"name"`
	Endpoint string `mapstructure:"endpoint"`
	// Gateway names a gateway instead of an endpoint.
	Gateway string        `mapstructure:"gateway"`
	UnitID  int           `mapstructure:"unit_id"`
	Tenant  string        `mapstructure:"tenant"`
	Station string        `mapstructure:"station"`
	Timeout time.Duration `mapstructure:"timeout"`
	// PointSets names point lists from the top-level point_sets.
	PointSets []string      `mapstructure:"point_sets"`
	Points    []PointConfig `mapstructure:"points"`
}

// PointConfig is one typed value in an RTU's address space.
type PointConfig struct {
	Name      string  `mapstructure:"name"`
	Kind      string  `mapstructure:"kind"`
	Register  string  `mapstructure:"register"`
	Address   int     `mapstructure:"address"`
	Type      string  `mapstructure:"type"`
	ByteOrder string  `mapstructure:"byte_order"`
	Scale     float64 `mapstructure:"scale"`
	Offset    float64 `mapstructure:"offset"`
	Unit      string  `mapstructure:"unit"`
	// States maps a raw valve value (decimal integer, or true/false for
	// bool points) to a status name such as open, closed, travel, fault.
	States    map[string]string `mapstructure:"states"`
	PollGroup string            `mapstructure:"poll_group"`
}

func createDefaultConfig() *Config {
	return &Config{
		PollGroups: map[string]time.Duration{
			KindPressure: 500 * time.Millisecond,
			KindValve:    2 * time.Second,
			KindGeneric:  time.Second,
		},
		MaxGap:          8,
		MaxGapBits:      64,
		MaxConcurrency:  256,
		MaxPollsPerSlot: 100,
		Reconnect: ReconnectConfig{
			InitialInterval: 500 * time.Millisecond,
			MaxInterval:     30 * time.Second,
			Jitter:          0.2,
		},
		RetryBatches: 16,
		LogInterval:  30 * time.Second,
	}
}

const defaultTimeout = time.Second

// Unmarshal loads the configuration (confmap.Unmarshaler) and fills each
// point's derivable defaults, so that Validate only checks.
func (c *Config) Unmarshal(conf *confmap.Conf) error {
	if err := conf.Unmarshal(c); err != nil {
		return err
	}
	c.applyDefaults()
	return nil
}

// applyDefaults fills the derivable defaults of every point (see
// PointConfig.withDefaults). It is idempotent.
func (c *Config) applyDefaults() {
	for _, pts := range c.PointSets {
		for j := range pts {
			pts[j] = pts[j].withDefaults()
		}
	}
	for i := range c.RTUs {
		pts := c.RTUs[i].Points
		for j := range pts {
			pts[j] = pts[j].withDefaults()
		}
	}
}

// withDefaults returns p with its derivable defaults filled: type bool for
// coil and discrete registers and uint16 for the others, byte order ABCD
// (upper-cased), scale 1 and the poll group named after the kind.
func (p PointConfig) withDefaults() PointConfig {
	if p.Type == "" {
		switch p.Register {
		case RegCoil, RegDiscrete:
			p.Type = "bool"
		default:
			p.Type = "uint16"
		}
	}
	p.ByteOrder = strings.ToUpper(cmp.Or(p.ByteOrder, "ABCD"))
	if p.Scale == 0 {
		p.Scale = 1
	}
	if p.PollGroup == "" {
		p.PollGroup = p.Kind
	}
	return p
}

var pointNameRe = func(s string) bool {
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

	for name, iv := range c.PollGroups {
		if name == "" {
			add("poll_groups: empty group name")
		}
		if iv < 10*time.Millisecond {
			add("poll_groups.%s: interval %v is below 10ms", name, iv)
		}
	}
	if c.MaxGap < 0 || c.MaxGap >= maxRegsPerRead {
		add("max_gap: %d must be in [0, %d)", c.MaxGap, maxRegsPerRead)
	}
	if c.MaxGapBits < 0 || c.MaxGapBits >= maxBitsPerRead {
		add("max_gap_bits: %d must be in [0, %d)", c.MaxGapBits, maxBitsPerRead)
	}
	if c.MaxConcurrency < 1 {
		add("max_concurrency: %d must be at least 1", c.MaxConcurrency)
	}
	if c.MaxPollsPerSlot < 0 {
		add("max_polls_per_slot: %d must not be negative", c.MaxPollsPerSlot)
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

	gateways := map[string]bool{}
	for i, g := range c.Gateways {
		key := fmt.Sprintf("gateways[%d]", i)
		if g.Name == "" {
			add("%s.name: required", key)
		} else if gateways[g.Name] {
			add("%s.name: duplicate gateway %q", key, g.Name)
		}
		gateways[g.Name] = true
		if err := scadaseries.CheckTCPEndpoint(g.Endpoint); err != nil {
			add("%s.endpoint: %w", key, err)
		}
		if g.Timeout < 0 {
			add("%s.timeout: must not be negative", key)
		}
	}

	for name, pts := range c.PointSets {
		for j := range pts {
			if err := c.validatePoint(pts[j]); err != nil {
				add("point_sets.%s[%d]: %w", name, j, err)
			}
		}
	}

	if len(c.RTUs) == 0 {
		add("rtus: at least one RTU is required")
	}
	rtuNames := map[string]bool{}
	for i := range c.RTUs {
		r := &c.RTUs[i]
		key := fmt.Sprintf("rtus[%d]", i)
		if r.Name != "" {
			key = fmt.Sprintf("rtus[%d] (%s)", i, r.Name)
		}
		if r.Name == "" {
			add("%s.name: required", key)
		} else if rtuNames[r.Name] {
			add("%s.name: duplicate RTU %q", key, r.Name)
		}
		rtuNames[r.Name] = true
		switch {
		case r.Endpoint != "" && r.Gateway != "":
			add("%s: endpoint and gateway are mutually exclusive", key)
		case r.Gateway != "":
			if !gateways[r.Gateway] {
				add("%s.gateway: unknown gateway %q", key, r.Gateway)
			}
		default:
			if err := scadaseries.CheckTCPEndpoint(r.Endpoint); err != nil {
				add("%s.endpoint: %w", key, err)
			}
		}
		if r.UnitID < 0 || r.UnitID > 255 {
			add("%s.unit_id: %d must be in [0, 255]", key, r.UnitID)
		}
		if err := tenants.CheckID(r.Tenant); err != nil {
			add("%s.tenant: %w", key, err)
		}
		if r.Station == "" {
			add("%s.station: required", key)
		}
		if r.Timeout < 0 {
			add("%s.timeout: must not be negative", key)
		}
		for _, ps := range r.PointSets {
			if _, ok := c.PointSets[ps]; !ok {
				add("%s.point_sets: unknown point set %q", key, ps)
			}
		}
		for j := range r.Points {
			if err := c.validatePoint(r.Points[j]); err != nil {
				add("%s.points[%d]: %w", key, j, err)
			}
		}
		pts := c.rtuPoints(r)
		if len(pts) == 0 {
			add("%s: no points (set points or point_sets)", key)
		}
		seen := map[string]bool{}
		for _, p := range pts {
			if p.Name != "" && seen[p.Name] {
				add("%s: duplicate point name %q", key, p.Name)
			}
			seen[p.Name] = true
		}
	}
	return errors.Join(errs...)
}

// rtuPoints returns the RTU's point sets followed by its own points.
func (c *Config) rtuPoints(r *RTUConfig) []PointConfig {
	var out []PointConfig
	for _, ps := range r.PointSets {
		out = append(out, c.PointSets[ps]...)
	}
	return append(out, r.Points...)
}

var validByteOrders = []string{"ABCD", "DCBA", "BADC", "CDAB"}

// validatePoint checks p as it is with its derivable defaults (see
// PointConfig.withDefaults); it changes nothing.
func (c *Config) validatePoint(p PointConfig) error {
	given := p
	p = p.withDefaults()
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if !pointNameRe(p.Name) {
		add("name: %q must match [a-zA-Z_:][a-zA-Z0-9_:.-]*", p.Name)
	}
	switch p.Kind {
	case KindPressure, KindValve, KindGeneric:
	case "":
		add("kind: required (pressure, valve or generic)")
	default:
		add("kind: %q must be pressure, valve or generic", p.Kind)
	}
	bits := false
	switch p.Register {
	case RegCoil, RegDiscrete:
		bits = true
	case RegHolding, RegInput:
	default:
		add("register: %q must be coil, discrete, holding or input", p.Register)
	}
	if p.Address < 0 || p.Address > 0xffff {
		add("address: %d must be in [0, 65535]", p.Address)
	}
	t, ok := parseType(p.Type)
	if !ok {
		add("type: %q must be one of bool, int16, uint16, int32, uint32, int64, uint64, float32, float64", p.Type)
	} else {
		if bits && t != typeBool {
			add("type: %s registers hold single bits: type must be bool, not %s", p.Register, p.Type)
		}
		if !bits && t == typeBool && p.Register != "" {
			add("type: bool is only valid for coil or discrete registers")
		}
		if p.Address+t.words() > 0x10000 {
			add("address: %d + %d registers runs past 65535", p.Address, t.words())
		}
	}
	if !slices.Contains(validByteOrders, p.ByteOrder) {
		add("byte_order: %q must be ABCD, DCBA, BADC or CDAB", given.ByteOrder)
	}
	if p.Kind == KindValve {
		if len(p.States) == 0 {
			add("states: a valve needs a map from raw value to status name")
		}
		seen := map[int64]bool{}
		for k, v := range p.States {
			raw, err := parseRaw(k)
			if err != nil {
				add("states.%s: %w", k, err)
			} else if seen[raw] {
				add("states.%s: raw value %d listed twice", k, raw)
			}
			seen[raw] = true
			if v == "" {
				add("states.%s: empty status name", k)
			}
		}
		if t.isFloat() {
			add("type: a valve's raw value must be an integer or bool type, not %s", p.Type)
		}
		if p.Scale != 1 || p.Offset != 0 {
			add("scale/offset: not applicable to valves (states map raw values)")
		}
	} else if len(p.States) != 0 {
		add("states: only valid for kind valve")
	}
	if _, ok := c.PollGroups[p.PollGroup]; !ok && p.Kind != "" {
		add("poll_group: unknown poll group %q (define it under poll_groups)", p.PollGroup)
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("point %q: %w", p.Name, errors.Join(errs...))
}

func parseRaw(s string) (int64, error) {
	switch strings.ToLower(s) {
	case "true":
		return 1, nil
	case "false":
		return 0, nil
	}
	v, err := strconv.ParseInt(s, 0, 64)
	if err != nil {
		return 0, fmt.Errorf("raw value %q is not an integer", s)
	}
	return v, nil
}
