package alarmconnector

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/scadaotel/scadaotel/internal/leaktest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, append(leaktest.VictoriaMetrics(), leaktest.GoMetrics()...)...)
}
