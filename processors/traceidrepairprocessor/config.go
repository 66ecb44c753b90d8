package traceidrepairprocessor

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Ambiguous actions.
const (
	AmbiguousLink = "link"
	AmbiguousNone = "none"
)

// Config configures the traceidrepair processor.
type Config struct {
	// Carriers says which clues a span may carry that tie it to an original trace.
	Carriers CarriersConfig `mapstructure:"carriers"`
	// Index bounds the per-tenant index of recent originals.
	Index IndexConfig `mapstructure:"index"`
	// Hold bounds how long and how much is held while waiting for late originals.
	Hold HoldConfig `mapstructure:"hold"`
	// AmbiguousAction is what to do with a fragment that matches more than one
	// original: "link" adds a span link to every candidate, "none" only marks it.
	AmbiguousAction string `mapstructure:"ambiguous_action"`
}

// CarriersConfig lists the clues that are trusted.
type CarriersConfig struct {
	// ZeroHalf treats a trace id with exactly one zero 64-bit half as a
	// zero-padded 16-hex id whose other half is a clue.
	ZeroHalf bool `mapstructure:"zero_half"`
	// TraceIDAttributes are span attribute names that may hold a trace id (16 or
	// 32 hex, or a b3 / traceparent / uber-trace-id value). Escaped forms
	// (X_B3_TraceId, x_HYPHEN_b3_HYPHEN_traceid, x_$dash$_b3_$dash$_traceid)
	// are normalised before comparison, and a name also matches as the last
	// dot-separated part of a longer name (messaging.header.X_B3_TraceId).
	TraceIDAttributes []string `mapstructure:"trace_id_attributes"`
	// CorrelationAttributes are span attribute names whose value ties a
	// consumer to the producer span that sent the message (message id,
	// conversation id, a business key). Producer spans are indexed by them.
	CorrelationAttributes []string `mapstructure:"correlation_attributes"`
}

// IndexConfig bounds the per-tenant index.
type IndexConfig struct {
	// Window is how long an original trace id or producer stays matchable
	// after it was last seen.
	Window time.Duration `mapstructure:"window"`
	// MaxTraces bounds the trace-id index of one tenant (least recently seen evicted first).
	MaxTraces int `mapstructure:"max_traces"`
	// MaxCorrelations bounds the producer correlation index of one tenant.
	MaxCorrelations int `mapstructure:"max_correlations"`
	// MaxFragments bounds the remembered fragment -> original mappings of one
	// tenant (used to repair later batches of a repaired fragment).
	MaxFragments int `mapstructure:"max_fragments"`
	// MaxTenants bounds the number of tenants that get an index; spans of
	// further tenants pass through untouched.
	MaxTenants int `mapstructure:"max_tenants"`
}

// HoldConfig bounds the wait for late originals.
type HoldConfig struct {
	// Wait is how long a fragment without a candidate is held for its
	// original to arrive. 0 disables holding.
	Wait time.Duration `mapstructure:"wait"`
	// MaxSpans bounds the spans held over all tenants. A batch whose
	// candidates do not fit is refused with a retryable error; a batch that
	// could not fit even in an empty hold is decided at once instead.
	MaxSpans int `mapstructure:"max_spans"`
	// MaxSpansPerTenant bounds the spans held of one tenant (at most
	// MaxSpans; 0: MaxSpans). A tenant at its bound is refused (retryable)
	// while the others' fragments are still held.
	MaxSpansPerTenant int `mapstructure:"max_spans_per_tenant"`
}

func createDefaultConfig() *Config {
	return &Config{
		Carriers: CarriersConfig{
			ZeroHalf:              true,
			TraceIDAttributes:     []string{"x-b3-traceid", "b3", "traceparent", "uber-trace-id"},
			CorrelationAttributes: []string{"messaging.message.id", "messaging.message.conversation_id"},
		},
		Index: IndexConfig{
			Window:          10 * time.Minute,
			MaxTraces:       500_000,
			MaxCorrelations: 200_000,
			MaxFragments:    100_000,
			MaxTenants:      256,
		},
		Hold: HoldConfig{
			Wait:              5 * time.Second,
			MaxSpans:          100_000,
			MaxSpansPerTenant: 25_000,
		},
		AmbiguousAction: AmbiguousLink,
	}
}

const maxAttributeNames = 64

// Validate checks the configuration; each error names its key.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Carriers.TraceIDAttributes) > maxAttributeNames {
		errs = append(errs, fmt.Errorf("carriers.trace_id_attributes: at most %d names, got %d", maxAttributeNames, len(c.Carriers.TraceIDAttributes)))
	}
	if len(c.Carriers.CorrelationAttributes) > maxAttributeNames {
		errs = append(errs, fmt.Errorf("carriers.correlation_attributes: at most %d names, got %d", maxAttributeNames, len(c.Carriers.CorrelationAttributes)))
	}
	seen := map[string]string{}
	for _, list := range []struct {
		key   string
		names []string
	}{{"carriers.trace_id_attributes", c.Carriers.TraceIDAttributes}, {"carriers.correlation_attributes", c.Carriers.CorrelationAttributes}} {
		for i, n := range list.names {
			if strings.TrimSpace(n) == "" {
				errs = append(errs, fmt.Errorf("%s[%d]: empty attribute name", list.key, i))
				continue
			}
			norm := normalizeName(n)
			if prev, ok := seen[norm]; ok {
				errs = append(errs, fmt.Errorf("%s[%d]: %q is the same attribute as %s once escapes are normalised", list.key, i, n, prev))
				continue
			}
			seen[norm] = fmt.Sprintf("%s[%d] (%q)", list.key, i, n)
		}
	}
	if !c.Carriers.ZeroHalf && len(c.Carriers.TraceIDAttributes) == 0 && len(c.Carriers.CorrelationAttributes) == 0 {
		errs = append(errs, errors.New("carriers: no carrier enabled (zero_half is false and both attribute lists are empty): the processor would do nothing"))
	}
	if c.Index.Window <= 0 {
		errs = append(errs, fmt.Errorf("index.window: must be > 0, got %s", c.Index.Window))
	} else if c.Index.Window > 24*time.Hour {
		errs = append(errs, fmt.Errorf("index.window: must be <= 24h, got %s", c.Index.Window))
	}
	checkRange := func(key string, v, lo, hi int) {
		if v < lo || v > hi {
			errs = append(errs, fmt.Errorf("%s: must be between %d and %d, got %d", key, lo, hi, v))
		}
	}
	checkRange("index.max_traces", c.Index.MaxTraces, 1, 1<<30)
	checkRange("index.max_correlations", c.Index.MaxCorrelations, 0, 1<<30)
	checkRange("index.max_fragments", c.Index.MaxFragments, 1, 1<<30)
	checkRange("index.max_tenants", c.Index.MaxTenants, 1, 1<<20)
	if c.Hold.Wait < 0 {
		errs = append(errs, fmt.Errorf("hold.wait: must be >= 0, got %s", c.Hold.Wait))
	} else if c.Hold.Wait >= c.Index.Window && c.Index.Window > 0 {
		errs = append(errs, fmt.Errorf("hold.wait: must be shorter than index.window (%s), got %s", c.Index.Window, c.Hold.Wait))
	}
	checkRange("hold.max_spans", c.Hold.MaxSpans, 0, 1<<30)
	checkRange("hold.max_spans_per_tenant", c.Hold.MaxSpansPerTenant, 0, 1<<30)
	switch c.AmbiguousAction {
	case AmbiguousLink, AmbiguousNone:
	default:
		errs = append(errs, fmt.Errorf("ambiguous_action: must be %q or %q, got %q", AmbiguousLink, AmbiguousNone, c.AmbiguousAction))
	}
	return errors.Join(errs...)
}
