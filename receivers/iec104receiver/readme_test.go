package iec104receiver

import (
	"testing"

	"go.opentelemetry.io/collector/component"

	"github.com/scadaotel/scadaotel/internal/readmeconfig"
)

// TestReadmeExamplesLoad: every iec104 example of the README loads into
// the config and validates, so the documentation cannot drift from the code.
func TestReadmeExamplesLoad(t *testing.T) {
	readmeconfig.Check(t, "README.md", "receivers", "iec104", func() component.Config { return createDefaultConfig() })
}
