package tenants

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"gopkg.in/yaml.v3"
)

// Limits are one tenant's ingest limits. Zero means unlimited.
type Limits struct {
	// SamplesPerSecond bounds metric data points per second.
	SamplesPerSecond float64 `mapstructure:"samples_per_second" yaml:"samples_per_second"`
	// SpansPerSecond bounds spans per second.
	SpansPerSecond float64 `mapstructure:"spans_per_second" yaml:"spans_per_second"`
	// BytesPerSecond bounds the OTLP protobuf size of accepted data per second.
	BytesPerSecond float64 `mapstructure:"bytes_per_second" yaml:"bytes_per_second"`
	// ActiveSeries bounds the distinct metric series seen in the last
	// ActiveSeriesWindow; samples of new series beyond it are refused.
	ActiveSeries int `mapstructure:"active_series" yaml:"active_series"`
}

// Spec declares one tenant, inline in the collector config or in a tenants
// file. Tokens are never stored: only their SHA-256 hashes (hex), which
// `scadaotel tenants hash-token` prints.
type Spec struct {
	ID string `mapstructure:"id" yaml:"id"`
	// TokenSHA256 are tokens without a name: each has LegacyRoles
	// (ingest, viewer, operator) and is named token:<hash prefix> in the
	// audit trail.
	TokenSHA256 []string `mapstructure:"token_sha256" yaml:"token_sha256"`
	// Tokens are named tokens, each with its roles.
	Tokens []TokenSpec `mapstructure:"tokens" yaml:"tokens"`
	Limits Limits      `mapstructure:"limits" yaml:"limits"`
	// KafkaTopic overrides the alert topic for this tenant ("" = default).
	KafkaTopic string `mapstructure:"kafka_topic" yaml:"kafka_topic"`
}

// Tenant is the registry's public view of a tenant (no token hashes).
type Tenant struct {
	ID         string
	Limits     Limits
	KafkaTopic string
}

// HashToken returns the hex SHA-256 of a bearer token, the only form in
// which tokens are configured.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// TokenActor names a token in the audit trail without revealing it: the
// name of a named token (tokens: in the tenants file) of the process's
// registry, else token:<the first 12 hex digits of its SHA-256> (what
// token_sha256 in the file starts with).
func TokenActor(token string) string {
	if r := processRegistry.Load(); r != nil {
		if ti, ok := r.LookupToken(token); ok {
			return ti.Actor(token)
		}
	}
	return "token:" + HashToken(token)[:12]
}

// Validate checks limits; errors name the key under prefix.
func (l Limits) Validate(prefix string) error {
	for _, kv := range []struct {
		key string
		v   float64
	}{
		{"samples_per_second", l.SamplesPerSecond},
		{"spans_per_second", l.SpansPerSecond},
		{"bytes_per_second", l.BytesPerSecond},
		{"active_series", float64(l.ActiveSeries)},
	} {
		if kv.v < 0 || math.IsNaN(kv.v) || math.IsInf(kv.v, 0) {
			return fmt.Errorf("%s.%s: must be a finite number >= 0 (0 = the default), got %v", prefix, kv.key, kv.v)
		}
	}
	return nil
}

// orDefaults fills each limit left at 0 from d.
func (l Limits) orDefaults(d Limits) Limits {
	pick := func(v, dv float64) float64 {
		if v == 0 {
			return dv
		}
		return v
	}
	l.SamplesPerSecond = pick(l.SamplesPerSecond, d.SamplesPerSecond)
	l.SpansPerSecond = pick(l.SpansPerSecond, d.SpansPerSecond)
	l.BytesPerSecond = pick(l.BytesPerSecond, d.BytesPerSecond)
	if l.ActiveSeries == 0 {
		l.ActiveSeries = d.ActiveSeries
	}
	return l
}

// Validate checks one tenant spec; errors name the key (prefix is where the
// spec sits, e.g. "tenants[1]").
func (s Spec) Validate(prefix string) error {
	if err := CheckID(s.ID); err != nil {
		return fmt.Errorf("%s.id: %w", prefix, err)
	}
	for i, h := range s.TokenSHA256 {
		if _, err := parseHash(h); err != nil {
			return fmt.Errorf("%s.token_sha256[%d]: %w", prefix, i, err)
		}
	}
	names := map[string]bool{}
	for i, t := range s.Tokens {
		p := fmt.Sprintf("%s.tokens[%d]", prefix, i)
		if err := t.validate(p); err != nil {
			return err
		}
		if names[t.Name] {
			return fmt.Errorf("%s.name: the tenant has two tokens named %q", p, t.Name)
		}
		names[t.Name] = true
	}
	if err := s.Limits.Validate(prefix + ".limits"); err != nil {
		return err
	}
	if s.KafkaTopic != "" && !validKafkaTopic(s.KafkaTopic) {
		return fmt.Errorf("%s.kafka_topic: %q is not a valid Kafka topic name ([a-zA-Z0-9._-], at most %d characters, leaving room for %q and %q)",
			prefix, s.KafkaTopic, maxKafkaTopic, SpansTopicSuffix, AlarmsTopicSuffix)
	}
	return nil
}

func parseHash(h string) ([sha256.Size]byte, error) {
	var out [sha256.Size]byte
	if len(h) != 2*sha256.Size {
		return out, fmt.Errorf("want 64 hex digits (SHA-256 of the token; see `scadaotel tenants hash-token`), got %d characters", len(h))
	}
	if _, err := hex.Decode(out[:], []byte(strings.ToLower(h))); err != nil {
		return out, fmt.Errorf("not hex: %w", err)
	}
	return out, nil
}

// ValidateSpecs checks a list of specs: each valid, ids unique, and no token
// hash shared by two tenants (a token selects exactly one tenant).
func ValidateSpecs(prefix string, specs []Spec) error {
	ids := map[string]int{}
	hashes := map[string]string{}
	for i, s := range specs {
		p := fmt.Sprintf("%s[%d]", prefix, i)
		if err := s.Validate(p); err != nil {
			return err
		}
		if j, dup := ids[s.ID]; dup {
			return fmt.Errorf("%s.id: tenant %q is declared twice (also at index %d)", p, s.ID, j)
		}
		ids[s.ID] = i
		for _, h := range s.TokenSHA256 {
			h = strings.ToLower(h)
			if other, dup := hashes[h]; dup && other != s.ID {
				return fmt.Errorf("%s.token_sha256: the same token is configured for tenants %q and %q", p, other, s.ID)
			}
			hashes[h] = s.ID
		}
		seen := map[string]bool{}
		for _, h := range s.TokenSHA256 {
			seen[strings.ToLower(h)] = true
		}
		for j, t := range s.Tokens {
			h := strings.ToLower(t.SHA256)
			if other, dup := hashes[h]; (dup && other != s.ID) || seen[h] {
				return fmt.Errorf("%s.tokens[%d].sha256: the same token is configured twice (a token selects one tenant, one name and one set of roles)", p, j)
			}
			seen[h] = true
			hashes[h] = s.ID
		}
	}
	return nil
}

// AdminSpec declares an appliance administrator: a named token that reads
// the appliance-wide figures of every tenant (the UI's Appliance view API)
// and no tenant's data.
type AdminSpec struct {
	Name        string   `yaml:"name"`
	TokenSHA256 []string `yaml:"token_sha256"`
	// Role is one of the separated administrator roles of 等保 2.0:
	// system (the appliance-wide figures; the default), security, or audit
	// (reads the audit trail, nothing else).
	Role string `yaml:"role"`
}

// Administrator roles.
const (
	RoleSystem   = "system"
	RoleSecurity = "security"
	RoleAudit    = "audit"
)

// Administrator is who an administrator token names.
type Administrator struct {
	Name string
	Role string
}

// fileShape is the tenants file: the same keys as inline tenants, and the
// administrators.
type fileShape struct {
	Tenants        []Spec      `yaml:"tenants"`
	Administrators []AdminSpec `yaml:"administrators"`
}

// ParseFile parses a tenants file (YAML, unknown keys rejected).
func ParseFile(name string, data []byte) ([]Spec, error) {
	f, err := parseFile(name, data)
	return f.Tenants, err
}

func parseFile(name string, data []byte) (fileShape, error) {
	var f fileShape
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return fileShape{}, fmt.Errorf("cannot parse tenants file %q: %w", name, err)
	}
	if err := ValidateSpecs(name+": tenants", f.Tenants); err != nil {
		return fileShape{}, err
	}
	if err := validateAdmins(name+": administrators", f.Administrators, f.Tenants); err != nil {
		return fileShape{}, err
	}
	return f, nil
}

// validateAdmins: names are ids, unique; a token is never both a tenant's
// and an administrator's.
func validateAdmins(prefix string, admins []AdminSpec, specs []Spec) error {
	tenantHashes := map[string]string{}
	for _, s := range specs {
		for _, h := range s.TokenSHA256 {
			tenantHashes[strings.ToLower(h)] = s.ID
		}
		for _, t := range s.Tokens {
			tenantHashes[strings.ToLower(t.SHA256)] = s.ID
		}
	}
	names := map[string]bool{}
	for i, a := range admins {
		p := fmt.Sprintf("%s[%d]", prefix, i)
		if err := CheckID(a.Name); err != nil {
			return fmt.Errorf("%s.name: %w", p, err)
		}
		switch a.Role {
		case "", RoleSystem, RoleSecurity, RoleAudit:
		default:
			return fmt.Errorf("%s.role: want system, security or audit, got %q", p, a.Role)
		}
		if names[a.Name] {
			return fmt.Errorf("%s.name: administrator %q is declared twice", p, a.Name)
		}
		names[a.Name] = true
		for j, h := range a.TokenSHA256 {
			if _, err := parseHash(h); err != nil {
				return fmt.Errorf("%s.token_sha256[%d]: %w", p, j, err)
			}
			if t, dup := tenantHashes[strings.ToLower(h)]; dup {
				return fmt.Errorf("%s.token_sha256[%d]: the same token is tenant %q's; an administrator needs a token of its own", p, j, t)
			}
		}
	}
	return nil
}

// DefaultKafkaTopicPrefix: `scadaotel tenants add <id>` gives the tenant
// the alert topic DefaultKafkaTopicPrefix+id of its own.
const DefaultKafkaTopicPrefix = "scada.alerts."

// SpansTopicSuffix names a tenant's raw error spans topic after its alert
// topic (kafka_alerts: "<kafka_topic>.spans").
const SpansTopicSuffix = ".spans"

// AlarmsTopicSuffix names a tenant's alarm transitions topic after its
// alert topic (kafka_alerts: "<kafka_topic>.alarms").
const AlarmsTopicSuffix = ".alarms"

// maxKafkaTopic leaves room for the longer suffix, AlarmsTopicSuffix,
// within Kafka's 249 characters.
const maxKafkaTopic = 249 - max(len(SpansTopicSuffix), len(AlarmsTopicSuffix))

func validKafkaTopic(t string) bool {
	if t == "." || t == ".." || len(t) > maxKafkaTopic {
		return false
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}
