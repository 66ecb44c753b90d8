package groupcommitprocessor

import (
	"fmt"
	"time"
)

// Config of the groupcommit processor.
type Config struct {
	// MaxSpans closes a group once it holds this many spans; later
	// arrivals start the next group.
	MaxSpans int `mapstructure:"max_spans"`
	// MaxWait is how long the first request of a group waits for others
	// before the group is written (0: only what arrives while the previous
	// write is in progress). Every request of the group is acknowledged up
	// to this much later, and the disk sees up to this many times fewer
	// writes at low concurrency.
	MaxWait time.Duration `mapstructure:"max_wait"`

	_ struct{}
}

func createDefaultConfig() *Config { return &Config{MaxSpans: 8192} }

// Validate checks the config; errors name the key.
func (c *Config) Validate() error {
	if c.MaxSpans < 1 || c.MaxSpans > 1_000_000 {
		return fmt.Errorf("max_spans: must be between 1 and 1000000, got %d", c.MaxSpans)
	}
	if c.MaxWait < 0 || c.MaxWait > time.Second {
		return fmt.Errorf("max_wait: must be between 0 and 1s, got %s", c.MaxWait)
	}
	return nil
}
