package kafkaalertexporter

import "github.com/scadaotel/scadaotel/tenants"

// Self-metric names, listed in documentation.md (the Prometheus endpoint
// exposes them unchanged).
const (
	MetricSentRecords        = "scadaotel_kafka_alerts_sent_records"
	MetricSendFailures       = "scadaotel_kafka_alerts_send_failures"
	MetricIgnoredRecords     = "scadaotel_kafka_alerts_ignored_records"
	MetricSentSpans          = "scadaotel_kafka_alerts_sent_spans"
	MetricDequeuedRecords    = "scadaotel_kafka_alerts_dequeued_records"
	MetricDeadLetterSpans    = "scadaotel_kafka_alerts_dead_letter_spans"
	MetricHeadDamagedRecords = "scadaotel_kafka_alerts_head_damaged_records"
	MetricInFlightRecords    = "scadaotel_kafka_alerts_in_flight_records"
	MetricOldestQueuedAge    = "scadaotel_kafka_alerts_oldest_queued_age"
	MetricRefusedRecords     = "scadaotel_kafka_alerts_refused_records"
	MetricAuditRecords       = "scadaotel_kafka_alerts_audit_records"
	// AttrTenant is the tenant attribute of self-metrics.
	AttrTenant = tenants.SelfMetricAttribute
)

// MetricNames lists every self-metric the exporter registers.
func MetricNames() []string {
	return []string{MetricSentRecords, MetricSendFailures, MetricIgnoredRecords, MetricSentSpans, MetricDequeuedRecords, MetricDeadLetterSpans, MetricHeadDamagedRecords, MetricInFlightRecords, MetricOldestQueuedAge, MetricRefusedRecords, MetricAuditRecords}
}
