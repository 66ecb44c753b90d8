package alertconsumer

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/scadaotel/scadaotel/internal/leaktest"
)

// sarama (the Kafka client) leaves go-metrics' meter arbiter running.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m, leaktest.GoMetrics()...) }
