package main

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestQueueLogFilter(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	logger := zap.New(core, zap.WithCaller(true), queueLogFilterOption())
	at := func(l *zap.Logger, msg string) {
		// As the collector's persistent queue logs them.
		ce := l.Check(zapcore.InfoLevel, msg)
		if ce == nil {
			t.Fatalf("%q not enabled", msg)
		}
		ce.Caller = zapcore.NewEntryCaller(0, "/x/exporterhelper@v0.165.0/internal/queue/persistent_queue.go", 166, true)
		ce.Write()
	}

	// A new queue: only "Initializing new persistent queue".
	newQ := logger.With(zap.String("otelcol.component.id", "kafka_alerts"))
	at(newQ, pqLegacyMsg)
	at(newQ, pqNewMsg)
	at(newQ, pqMigratedMsg)
	// A queue that really had legacy metadata: both lines kept, in order.
	oldQ := logger.With(zap.String("otelcol.component.id", "durable_otlp/jaeger"))
	at(oldQ, pqLegacyMsg)
	at(oldQ, pqMigratedMsg)
	// Anything else passes untouched.
	logger.Info("Everything is ready. Begin running and processing data.")
	logger.Info(pqMigratedMsg) // same text from another file

	var got []string
	for _, e := range logs.All() {
		got = append(got, e.Message)
	}
	want := []string{pqNewMsg, pqLegacyMsg, pqMigratedMsg, "Everything is ready. Begin running and processing data.", pqMigratedMsg}
	if len(got) != len(want) {
		t.Fatalf("logged %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("logged %q, want %q", got, want)
		}
	}
	if c := logs.All()[0].ContextMap()["otelcol.component.id"]; c != "kafka_alerts" {
		t.Errorf("fields lost: %v", logs.All()[0].ContextMap())
	}
}

// TestUndecodableQueueItemIsAnError: exporterhelper reports an item it
// cannot decode (and deletes) at debug level; the appliance logs it as an
// error, fields kept, and other debug lines stay hidden at info level.
func TestUndecodableQueueItemIsAnError(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	logger := zap.New(core, queueLogFilterOption()).With(zap.String("otelcol.component.id", "durable_otlp/jaeger"))
	logger.Debug(pqUndecodableMsg, zap.String("error", "proto: exceeded max recursion depth"))
	logger.Debug("some other debug line")
	if logs.Len() != 1 {
		t.Fatalf("logged %d entries, want 1: %v", logs.Len(), logs.All())
	}
	e := logs.All()[0]
	if e.Level != zapcore.ErrorLevel || e.ContextMap()["otelcol.component.id"] != "durable_otlp/jaeger" || e.ContextMap()["error"] == nil {
		t.Fatalf("entry %+v %v", e.Entry, e.ContextMap())
	}
}
