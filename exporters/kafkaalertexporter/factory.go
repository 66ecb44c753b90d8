// Package kafkaalertexporter writes the errorfanout connector's alert
// events to Kafka as JSON records (and, optionally, a firing service's raw
// error spans as OTLP protobuf), with an idempotent sarama producer behind
// a persistent, in-order sending queue.
package kafkaalertexporter

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/plog"
)

const typeStr = "kafka_alerts"

var componentType = component.MustNewType(typeStr)

// NewFactory returns the kafka_alerts exporter factory.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(componentType, createDefaultConfig,
		exporter.WithLogs(createLogs, component.StabilityLevelAlpha),
		exporter.WithTraces(createTraces, component.StabilityLevelAlpha),
	)
}

func createDefaultConfig() component.Config {
	q := exporterhelper.NewDefaultQueueConfig()
	q.NumConsumers = 1 // one consumer: alerts leave in order
	q.Sizer = exporterhelper.RequestSizerTypeBytes
	q.QueueSize = 64 << 20
	q.Batch = configoptional.None[exporterhelper.BatchConfig]()
	retry := configretry.NewDefaultBackOffConfig()
	retry.InitialInterval = time.Second
	retry.MaxInterval = 30 * time.Second
	retry.MaxElapsedTime = 0 // never give up: Kafka down means delayed, never lost
	return &Config{
		Brokers:         []string{"127.0.0.1:9092"},
		ClientID:        "scadaotel",
		ProtocolVersion: "2.8.0",
		Topic:           "scada.alerts",
		Alarms:          AlarmsConfig{Topic: DefaultAlarmsTopic},
		TraceURL:        "http://127.0.0.1:16686/trace/{trace_id}",
		Spans:           SpansConfig{OnlyErrors: true},
		Audit:           AuditConfig{PollInterval: time.Second},
		Compression:     "snappy",
		MaxMessageBytes: 1 << 20,
		Timeout:         exporterhelper.TimeoutConfig{Timeout: 30 * time.Second},
		Retry:           retry,
		SendingQueue:    configoptional.Some(q),
	}
}

func createLogs(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Logs, error) {
	c := cfg.(*Config)
	e, err := newAlertExporter(c, set, "alerts")
	if err != nil {
		return nil, err
	}
	// Records go straight to their tenants' heads (pushLogs): the heads are
	// the durable, per-tenant queue. The sending queue built here only
	// drains what an earlier release left in it (pushLegacy); nothing new
	// enters it. Retries happen in the senders (each record until
	// acknowledged).
	inner, err := exporterhelper.NewLogs(ctx, set, cfg, e.pushLegacy,
		exporterhelper.WithStart(e.start),
		exporterhelper.WithShutdown(e.shutdown),
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		exporterhelper.WithTimeout(exporterhelper.TimeoutConfig{}),
		exporterhelper.WithRetry(configretry.BackOffConfig{Enabled: false}),
		exporterhelper.WithQueue(c.SendingQueue),
	)
	if err != nil {
		return nil, err
	}
	return &logsExporter{Logs: inner, e: e}, nil
}

// logsExporter takes requests straight into the heads, and stops a
// delivery in progress before the legacy queue shuts down (the queue waits
// for its consumer).
type logsExporter struct {
	exporter.Logs
	e *alertExporter
}

func (l *logsExporter) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	return l.e.pushLogs(ctx, ld)
}

func (l *logsExporter) Shutdown(ctx context.Context) error {
	l.e.stop()
	return l.Logs.Shutdown(ctx)
}

func createTraces(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Traces, error) {
	c := cfg.(*Config)
	if c.Spans.Topic == "" {
		return nil, errors.New("kafka_alerts in a traces pipeline needs spans.topic (the raw error spans topic)")
	}
	e, err := newAlertExporter(c, set, "spans")
	if err != nil {
		return nil, err
	}
	return exporterhelper.NewTraces(ctx, set, cfg, e.pushTraces,
		exporterhelper.WithStart(e.start),
		exporterhelper.WithShutdown(e.shutdown),
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		exporterhelper.WithTimeout(c.Timeout),
		exporterhelper.WithRetry(c.Retry),
		exporterhelper.WithQueue(c.SendingQueue),
	)
}
