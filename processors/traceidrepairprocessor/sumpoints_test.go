package traceidrepairprocessor

import (
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

func sumPoints(m metricdata.Metrics) []metricdata.DataPoint[int64] {
	if s, ok := m.Data.(metricdata.Sum[int64]); ok {
		return s.DataPoints
	}
	return nil
}
