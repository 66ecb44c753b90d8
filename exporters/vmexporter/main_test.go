package vmexporter

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/scadaotel/scadaotel/internal/leaktest"
)

// The embedded VictoriaMetrics leaves package-level workers running.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m, leaktest.VictoriaMetrics()...) }
