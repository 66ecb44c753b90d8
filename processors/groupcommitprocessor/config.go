package groupcommitprocessor

import "fmt"

// Config of the groupcommit processor.
type Config struct {
	// MaxSpans closes a group once it holds this many spans; later
	// arrivals start the next group.
	MaxSpans int `mapstructure:"max_spans"`

	_ struct{}
}

func createDefaultConfig() *Config { return &Config{MaxSpans: 8192} }

// Validate checks the config; errors name the key.
func (c *Config) Validate() error {
	if c.MaxSpans < 1 || c.MaxSpans > 1_000_000 {
		return fmt.Errorf("max_spans: must be between 1 and 1000000, got %d", c.MaxSpans)
	}
	return nil
}
