package promremotewritereceiver

import (
	"testing"

	"go.opentelemetry.io/collector/component"

	"github.com/scadaotel/scadaotel/internal/readmeconfig"
)

// TestReadmeExamplesLoad: every prometheus_remote_write example of the README loads into the
// config and validates, so the documentation cannot drift from the code.
func TestReadmeExamplesLoad(t *testing.T) {
	readmeconfig.Check(t, "README.md", "receivers", "prometheus_remote_write", func() component.Config { return createDefaultConfig() })
}
