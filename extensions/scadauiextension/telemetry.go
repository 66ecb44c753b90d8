package scadauiextension

import (
	"github.com/scadaotel/scadaotel/connectors/errorfanoutconnector"
	"github.com/scadaotel/scadaotel/exporters/durableotlpexporter"
	"github.com/scadaotel/scadaotel/exporters/kafkaalertexporter"
	"github.com/scadaotel/scadaotel/exporters/vmexporter"
	"github.com/scadaotel/scadaotel/processors/tenantstampprocessor"
	"github.com/scadaotel/scadaotel/processors/traceidrepairprocessor"
	"github.com/scadaotel/scadaotel/receivers/scadareceiver"
)

// Self-metric names, listed in documentation.md (the Prometheus endpoint
// exposes them unchanged).
const (
	MetricRequests = "scadaotel_scada_ui_requests"
	MetricLogins   = "scadaotel_scada_ui_logins"
)

// MetricNames lists every self-metric the extension registers.
func MetricNames() []string { return []string{MetricRequests, MetricLogins} }

// readMetric is a self-metric of another component the Appliance view reads.
type readMetric struct {
	name    string // as the component's meter registers it
	counter bool   // a reader with type suffixes adds _total
}

// repairCounter is a traceidrepair counter the view shows and the key the
// UI API names it by.
type repairCounter struct{ metric, key string }

// repairPrefix starts every traceidrepair self-metric.
const repairPrefix = "scadaotel_" + traceidrepairprocessor.TypeStr + "_"

// repairCounters are the traceidrepair counters shown, in display order.
var repairCounters = []repairCounter{
	{traceidrepairprocessor.MetricRepaired, "repaired"},
	{traceidrepairprocessor.MetricRepairedSpans, "repaired_spans"},
	{traceidrepairprocessor.MetricAmbiguous, "ambiguous"},
	{traceidrepairprocessor.MetricUnmatched, "unmatched"},
	{traceidrepairprocessor.MetricHeld, "held"},
	{traceidrepairprocessor.MetricRefused, "refused"},
	{traceidrepairprocessor.MetricReleaseFailed, "release_failed"},
}

// readMetrics are the distribution's self-metrics the Appliance view reads
// (besides the collector core's otelcol_receiver_*, otelcol_exporter_* and
// otelcol_process_* series).
var readMetrics = func() []readMetric {
	r := []readMetric{
		{tenantstampprocessor.MetricAcceptedRequests, true},
		{tenantstampprocessor.MetricAcceptedItems, true},
		{tenantstampprocessor.MetricRefusedRequests, true},
		{kafkaalertexporter.MetricSentRecords, true},
		{kafkaalertexporter.MetricSendFailures, true},
		{kafkaalertexporter.MetricInFlightRecords, false},
		{kafkaalertexporter.MetricOldestQueuedAge, false},
		{errorfanoutconnector.MetricPendingAlertEvents, false},
		{scadareceiver.MetricPendingRetry, false}, // an up-down counter: no _total
		{traceidrepairprocessor.MetricHeldSpans, false},
		{durableotlpexporter.MetricDeadLetterStored, false},
		{durableotlpexporter.MetricDeadLetterSpans, true},
		{kafkaalertexporter.MetricDeadLetterSpans, true},
		{vmexporter.MetricRemoteDeadLetterPoints, true},
		{vmexporter.MetricSamples, true},
	}
	for _, c := range repairCounters {
		r = append(r, readMetric{c.metric, true})
	}
	return r
}()

// ReadMetrics lists the distribution's self-metrics the Appliance view
// reads, by the names their components register (a test holds them to the
// names the components declare).
func ReadMetrics() []string {
	out := make([]string, len(readMetrics))
	for i, m := range readMetrics {
		out[i] = m.name
	}
	return out
}

// ExposedName is a self-metric's name on a Prometheus endpoint whose reader
// adds type suffixes (without_type_suffix: false): counters get _total. The
// default config's reader adds none; parseExposition drops a _total, so the
// view compares registered names either way.
func ExposedName(name string, counter bool) string {
	if counter {
		return name + "_total"
	}
	return name
}
