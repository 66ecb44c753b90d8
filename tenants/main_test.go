package tenants

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/scadaotel/scadaotel/internal/leaktest"
)

// sarama (the fairness tests' Kafka consumer) leaves a go-metrics meter.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m, leaktest.GoMetrics()...) }
