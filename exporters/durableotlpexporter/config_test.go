package durableotlpexporter

import (
	"strings"
	"testing"

	"go.opentelemetry.io/collector/component"

	"github.com/scadaotel/scadaotel/internal/readmeconfig"
)

func TestConfigRefusesEveryWayToDrop(t *testing.T) {
	valid := func() *Config {
		c := createDefaultConfig().(*Config)
		c.ClientConfig.Endpoint = "127.0.0.1:14317"
		id := component.MustNewID("file_storage")
		c.QueueConfig.Get().StorageID = &id
		c.DeadLetter.Directory = "/tmp/dl"
		return c
	}
	if err := valid().Validate(); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
	cases := map[string]func(c *Config){
		"endpoint":                          func(c *Config) { c.ClientConfig.Endpoint = "" },
		"max_request_bytes":                 func(c *Config) { c.MaxRequestBytes = 10 },
		"sending_queue.storage":             func(c *Config) { c.QueueConfig.Get().StorageID = nil },
		"retry_on_failure.enabled":          func(c *Config) { c.RetryConfig.Enabled = false },
		"retry_on_failure.max_elapsed_time": func(c *Config) { c.RetryConfig.MaxElapsedTime = 300e9 },
		"dead_letter.directory":             func(c *Config) { c.DeadLetter.Directory = "" },
		"disk_reserve.percent":              func(c *Config) { c.DeadLetter.DiskReserve.Percent = 80 },
	}
	for key, breakIt := range cases {
		c := valid()
		breakIt(c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: error %v does not name the key", key, err)
		}
	}
}

func TestReadmeExamples(t *testing.T) {
	readmeconfig.Check(t, "README.md", "exporters", "durable_otlp", createDefaultConfig)
}
