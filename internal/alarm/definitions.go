package alarm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/scadaotel/scadaotel/tenants"
)

// Messages is an alarm's text in both languages of the appliance. The
// placeholders {value}, {limit}, {level}, {station}, {rtu} and {unit} are
// replaced when a record is made.
type Messages struct {
	En   string `yaml:"en" json:"en"`
	ZhCN string `yaml:"zh-CN" json:"zh-CN"`
}

// FileShape is the alarm definitions file.
type FileShape struct {
	Tenants map[string]TenantFile `yaml:"tenants"`
}

// TenantFile is one tenant's section.
type TenantFile struct {
	// MaxShelve bounds an operator's shelve (default 24h).
	MaxShelve time.Duration `yaml:"max_shelve"`
	// Communication is the communication alarm of each of the tenant's
	// RTUs, raised while its link is down.
	Communication *CommFile `yaml:"communication"`
	Alarms        []DefFile `yaml:"alarms"`
}

// CommFile configures the communication alarms.
type CommFile struct {
	Disabled bool          `yaml:"disabled"`
	Priority string        `yaml:"priority"`
	OnDelay  time.Duration `yaml:"on_delay"`
	OffDelay time.Duration `yaml:"off_delay"`
	Message  Messages      `yaml:"message"`
}

// DefFile is one alarm definition as written.
type DefFile struct {
	ID           string             `yaml:"id"`
	Series       string             `yaml:"series"`
	Limits       map[string]float64 `yaml:"limits"`
	Rate         *RateFile          `yaml:"rate"`
	Discrete     *DiscreteFile      `yaml:"discrete"`
	Mismatch     *MismatchFile      `yaml:"mismatch"`
	Quality      *QualityFile       `yaml:"quality"`
	Priority     string             `yaml:"priority"`
	Priorities   map[string]string  `yaml:"priorities"`
	Deadband     float64            `yaml:"deadband"`
	OnDelay      time.Duration      `yaml:"on_delay"`
	OffDelay     time.Duration      `yaml:"off_delay"`
	Message      Messages           `yaml:"message"`
	OutOfService bool               `yaml:"out_of_service"`
}

// RateFile: a rate-of-change alarm.
type RateFile struct {
	PerMinute float64       `yaml:"per_minute"`
	Window    time.Duration `yaml:"window"`
	Direction string        `yaml:"direction"`
}

// DiscreteFile: a status (state set) alarm.
type DiscreteFile struct {
	Abnormal []string `yaml:"abnormal"`
}

// MismatchFile: a command/feedback alarm; series is the feedback.
type MismatchFile struct {
	Command    string        `yaml:"command"`
	TravelTime time.Duration `yaml:"travel_time"`
	Tolerance  float64       `yaml:"tolerance"`
}

// QualityFile: a point not good for longer than delay.
type QualityFile struct {
	Delay time.Duration `yaml:"delay"`
}

// Kind of a definition.
type Kind string

// Kinds.
const (
	KindLimit    Kind = "limit"
	KindRate     Kind = "rate"
	KindDiscrete Kind = "discrete"
	KindMismatch Kind = "mismatch"
	KindQuality  Kind = "quality"
	KindComm     Kind = "communication"
)

// Def is a validated definition. One definition of kind limit makes one
// alarm per level (id "<id>:HH", ...), every other kind one alarm.
type Def struct {
	ID           string
	Kind         Kind
	Series       Selector
	Command      Selector // mismatch only
	Levels       []LevelDef
	Rate         RateFile
	Direction    Direction
	Abnormal     map[string]bool
	Tolerance    float64
	Priority     Priority
	Deadband     float64
	OnDelay      time.Duration
	OffDelay     time.Duration
	Message      Messages
	OutOfService bool
}

// LevelDef is one limit of a limit definition.
type LevelDef struct {
	Level    Level
	Value    float64
	Priority Priority
}

// AlarmID is the id of the alarm of one level (or of the definition).
func (d *Def) AlarmID(l Level) string {
	if l == "" {
		return d.ID
	}
	return d.ID + ":" + string(l)
}

// Comm is a tenant's validated communication alarm settings.
type Comm struct {
	Enabled  bool
	Priority Priority
	OnDelay  time.Duration
	OffDelay time.Duration
	Message  Messages
}

// TenantDefs are one tenant's validated definitions.
type TenantDefs struct {
	MaxShelve time.Duration
	Comm      Comm
	Defs      []*Def
}

// Definitions are every tenant's definitions.
type Definitions struct {
	Tenants map[string]*TenantDefs
}

// Defaults.
const (
	DefaultMaxShelve = 24 * time.Hour
	MaxDelay         = 24 * time.Hour
	MaxRateWindow    = time.Hour
	// MaxDefsPerTenant bounds one tenant's definitions (memory per tenant).
	MaxDefsPerTenant = 100000
)

// DefaultCommMessages are the communication alarm's texts.
var DefaultCommMessages = Messages{
	En:   "Communication lost with RTU {rtu} (station {station})",
	ZhCN: "与 RTU {rtu}（站 {station}）通信中断",
}

// CommAlarmID is the communication alarm of an RTU link.
func CommAlarmID(link string) string { return "comm:" + link }

// ParseDefinitions parses and validates a definitions file; every error
// names the file and the key.
func ParseDefinitions(name string, data []byte) (*Definitions, error) {
	var f FileShape
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("cannot parse alarm definitions %q: %w", name, err)
	}
	out := &Definitions{Tenants: map[string]*TenantDefs{}}
	ids := make([]string, 0, len(f.Tenants))
	for id := range f.Tenants {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var errs []error
	for _, tid := range ids {
		p := fmt.Sprintf("%s: tenants.%s", name, tid)
		if err := tenants.CheckID(tid); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
			continue
		}
		td, err := compileTenant(p, f.Tenants[tid])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out.Tenants[tid] = td
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

func compileTenant(p string, tf TenantFile) (*TenantDefs, error) {
	var errs []error
	td := &TenantDefs{MaxShelve: tf.MaxShelve, Comm: Comm{Enabled: true, Priority: High, Message: DefaultCommMessages}}
	if td.MaxShelve == 0 {
		td.MaxShelve = DefaultMaxShelve
	}
	if td.MaxShelve < time.Minute || td.MaxShelve > 30*24*time.Hour {
		errs = append(errs, fmt.Errorf("%s.max_shelve: must be in 1m..720h, got %s", p, tf.MaxShelve))
	}
	if c := tf.Communication; c != nil {
		td.Comm.Enabled = !c.Disabled
		if c.Priority != "" {
			pr, err := ParsePriority(c.Priority)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s.communication.priority: %w", p, err))
			}
			td.Comm.Priority = pr
		}
		td.Comm.OnDelay, td.Comm.OffDelay = c.OnDelay, c.OffDelay
		errs = append(errs, checkDelay(p+".communication.on_delay", c.OnDelay), checkDelay(p+".communication.off_delay", c.OffDelay))
		if c.Message != (Messages{}) {
			if err := checkMessages(p+".communication.message", c.Message); err != nil {
				errs = append(errs, err)
			}
			td.Comm.Message = c.Message
		}
	}
	if len(tf.Alarms) > MaxDefsPerTenant {
		errs = append(errs, fmt.Errorf("%s.alarms: at most %d definitions per tenant, got %d", p, MaxDefsPerTenant, len(tf.Alarms)))
	}
	seen := map[string]int{}
	for i, df := range tf.Alarms {
		dp := fmt.Sprintf("%s.alarms[%d]", p, i)
		if df.ID != "" {
			dp += " (" + df.ID + ")"
		}
		d, err := compileDef(dp, df)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if j, dup := seen[d.ID]; dup {
			errs = append(errs, fmt.Errorf("%s.id: %q is also alarms[%d]", dp, d.ID, j))
			continue
		}
		seen[d.ID] = i
		td.Defs = append(td.Defs, d)
	}
	return td, errors.Join(errs...)
}

func checkDelay(key string, d time.Duration) error {
	if d < 0 || d > MaxDelay {
		return fmt.Errorf("%s: must be in 0..24h, got %s", key, d)
	}
	return nil
}

func checkMessages(key string, m Messages) error {
	var errs []error
	if strings.TrimSpace(m.En) == "" {
		errs = append(errs, fmt.Errorf("%s.en: required", key))
	}
	if strings.TrimSpace(m.ZhCN) == "" {
		errs = append(errs, fmt.Errorf("%s.zh-CN: required", key))
	}
	if len(m.En) > 1024 || len(m.ZhCN) > 1024 {
		errs = append(errs, fmt.Errorf("%s: at most 1024 bytes per language", key))
	}
	return errors.Join(errs...)
}

// validID: what an alarm id may be (it is part of URLs and Kafka keys).
func validID(s string) bool {
	if s == "" || len(s) > 128 || strings.HasPrefix(s, "comm:") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func compileDef(p string, df DefFile) (*Def, error) {
	var errs []error
	d := &Def{ID: df.ID, Deadband: df.Deadband, OnDelay: df.OnDelay, OffDelay: df.OffDelay, Message: df.Message, OutOfService: df.OutOfService}
	if !validID(df.ID) {
		errs = append(errs, fmt.Errorf("%s.id: want 1..128 of [A-Za-z0-9._-] (not starting comm:), got %q", p, df.ID))
	}
	sel, err := ParseSelector(df.Series)
	if err != nil {
		errs = append(errs, fmt.Errorf("%s.series: %w", p, err))
	}
	d.Series = sel
	if df.Priority == "" {
		errs = append(errs, fmt.Errorf("%s.priority: required (critical, high, medium or low)", p))
	} else if d.Priority, err = ParsePriority(df.Priority); err != nil {
		errs = append(errs, fmt.Errorf("%s.priority: %w", p, err))
	}
	if df.Deadband < 0 {
		errs = append(errs, fmt.Errorf("%s.deadband: must not be negative, got %v", p, df.Deadband))
	}
	errs = append(errs, checkDelay(p+".on_delay", df.OnDelay), checkDelay(p+".off_delay", df.OffDelay))
	if err := checkMessages(p+".message", df.Message); err != nil {
		errs = append(errs, err)
	}
	kinds := 0
	if len(df.Limits) > 0 {
		kinds++
		d.Kind = KindLimit
	}
	if df.Rate != nil {
		kinds++
		d.Kind = KindRate
	}
	if df.Discrete != nil {
		kinds++
		d.Kind = KindDiscrete
	}
	if df.Mismatch != nil {
		kinds++
		d.Kind = KindMismatch
	}
	if df.Quality != nil {
		kinds++
		d.Kind = KindQuality
	}
	if kinds != 1 {
		errs = append(errs, fmt.Errorf("%s: want exactly one of limits, rate, discrete, mismatch, quality; got %d", p, kinds))
		return nil, errors.Join(errs...)
	}
	if len(df.Priorities) > 0 && d.Kind != KindLimit {
		errs = append(errs, fmt.Errorf("%s.priorities: only for limits", p))
	}
	switch d.Kind {
	case KindLimit:
		for _, l := range []Level{LevelHH, LevelH, LevelL, LevelLL} {
			key := strings.ToLower(string(l))
			v, ok := df.Limits[key]
			if !ok {
				continue
			}
			ld := LevelDef{Level: l, Value: v, Priority: d.Priority}
			if ps, ok := df.Priorities[key]; ok {
				pr, err := ParsePriority(ps)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s.priorities.%s: %w", p, key, err))
				}
				ld.Priority = pr
			}
			d.Levels = append(d.Levels, ld)
		}
		for k := range df.Limits {
			switch k {
			case "hh", "h", "l", "ll":
			default:
				errs = append(errs, fmt.Errorf("%s.limits.%s: want hh, h, l or ll", p, k))
			}
		}
		for k := range df.Priorities {
			if _, ok := df.Limits[k]; !ok {
				errs = append(errs, fmt.Errorf("%s.priorities.%s: no such limit", p, k))
			}
		}
		lim := map[string]float64{}
		for k, v := range df.Limits {
			lim[k] = v
		}
		order := []string{"ll", "l", "h", "hh"}
		for i := 0; i < len(order); i++ {
			for j := i + 1; j < len(order); j++ {
				a, aok := lim[order[i]]
				b, bok := lim[order[j]]
				if aok && bok && a >= b {
					errs = append(errs, fmt.Errorf("%s.limits: %s (%v) must be below %s (%v)", p, order[i], a, order[j], b))
				}
			}
		}
	case KindRate:
		r := *df.Rate
		d.Rate = r
		if r.PerMinute <= 0 {
			errs = append(errs, fmt.Errorf("%s.rate.per_minute: must be positive, got %v", p, r.PerMinute))
		}
		if r.Window < 2*time.Second || r.Window > MaxRateWindow {
			errs = append(errs, fmt.Errorf("%s.rate.window: must be in 2s..1h, got %s", p, r.Window))
		}
		switch Direction(r.Direction) {
		case "", Both:
			d.Direction = Both
		case Rising, Falling:
			d.Direction = Direction(r.Direction)
		default:
			errs = append(errs, fmt.Errorf("%s.rate.direction: want rising, falling or both, got %q", p, r.Direction))
		}
	case KindDiscrete:
		if len(df.Discrete.Abnormal) == 0 {
			errs = append(errs, fmt.Errorf("%s.discrete.abnormal: at least one status is required", p))
		}
		d.Abnormal = map[string]bool{}
		for _, s := range df.Discrete.Abnormal {
			d.Abnormal[s] = true
		}
		if df.Deadband != 0 {
			errs = append(errs, fmt.Errorf("%s.deadband: has no meaning for a discrete alarm", p))
		}
	case KindMismatch:
		cmd, err := ParseSelector(df.Mismatch.Command)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.mismatch.command: %w", p, err))
		}
		d.Command = cmd
		if df.Mismatch.TravelTime <= 0 || df.Mismatch.TravelTime > MaxDelay {
			errs = append(errs, fmt.Errorf("%s.mismatch.travel_time: must be in (0, 24h], got %s", p, df.Mismatch.TravelTime))
		}
		if df.Mismatch.Tolerance < 0 {
			errs = append(errs, fmt.Errorf("%s.mismatch.tolerance: must not be negative", p))
		}
		d.Tolerance = df.Mismatch.Tolerance
		// The travel time is the mismatch's on-delay.
		d.OnDelay += df.Mismatch.TravelTime
	case KindQuality:
		if df.Quality.Delay < 0 || df.Quality.Delay > MaxDelay {
			errs = append(errs, fmt.Errorf("%s.quality.delay: must be in 0..24h, got %s", p, df.Quality.Delay))
		}
		d.OnDelay += df.Quality.Delay
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return d, nil
}

// Render fills a message's placeholders. Values are inserted as text; the
// record is JSON, so nothing here is ever interpreted.
func Render(m string, value, limit *float64, level, station, rtu, unit string) string {
	f := func(v *float64) string {
		if v == nil {
			return "-"
		}
		return strconv.FormatFloat(*v, 'g', 6, 64)
	}
	return strings.NewReplacer("{value}", f(value), "{limit}", f(limit), "{level}", level,
		"{station}", station, "{rtu}", rtu, "{unit}", unit).Replace(m)
}
