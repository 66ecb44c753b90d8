package errorfanoutconnector

import (
	"testing"

	"go.opentelemetry.io/collector/component"

	"github.com/scadaotel/scadaotel/internal/readmeconfig"
)

// TestReadmeExamplesLoad: every errorfanout example of the README loads into the
// config and validates, so the documentation cannot drift from the code.
func TestReadmeExamplesLoad(t *testing.T) {
	readmeconfig.Check(t, "README.md", "connectors", "errorfanout", func() component.Config { return createDefaultConfig() })
}
