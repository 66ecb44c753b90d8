package main

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/scadaotel/scadaotel/internal/leaktest"
)

// The embedded VictoriaMetrics (linked into the appliance) leaves
// package-level workers running, and sarama's consumer (the end-to-end
// tests read Kafka with it) a go-metrics meter.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, append(leaktest.VictoriaMetrics(), leaktest.GoMetrics()...)...)
}
