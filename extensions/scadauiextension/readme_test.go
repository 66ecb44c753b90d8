package scadauiextension

import (
	"testing"

	"go.opentelemetry.io/collector/component"

	"github.com/scadaotel/scadaotel/internal/readmeconfig"
)

// TestReadmeExamplesLoad: every scada_ui example of the README loads into the
// config and validates, so the documentation cannot drift from the code.
func TestReadmeExamplesLoad(t *testing.T) {
	readmeconfig.Check(t, "README.md", "extensions", "scada_ui", func() component.Config { return createDefaultConfig() })
}
