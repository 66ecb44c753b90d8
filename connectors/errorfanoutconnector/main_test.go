package errorfanoutconnector

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/scadaotel/scadaotel/internal/leaktest"
)

// sarama (the tests' Kafka clients) leaves a go-metrics meter, and the
// packages linked in VictoriaMetrics' package-level workers.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, append(leaktest.VictoriaMetrics(), leaktest.GoMetrics()...)...)
}
