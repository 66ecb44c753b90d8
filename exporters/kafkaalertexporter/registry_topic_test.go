package kafkaalertexporter

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/scadaotel/scadaotel/connectors/errorfanoutconnector"
	"github.com/scadaotel/scadaotel/tenants"
	"github.com/scadaotel/scadaotel/tenants/tenantauthtest"
)

// TestRegistryKafkaTopic: a tenant's kafka_topic from the tenants registry
// routes its alert records, and its raw spans to "<kafka_topic>.spans";
// the exporter's own tenant_topics wins over the registry; a tenant with
// neither uses the common topics.
func TestRegistryKafkaTopic(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(0), kfake.SeedTopics(1,
		"scada.alerts", "scada.alert-spans", "west.ops.alerts", "west.ops.alerts.spans", "east.explicit", "east.explicit.spans"))
	require.NoError(t, err)
	defer c.Close()
	h := tenantauthtest.Host(t, []tenants.Spec{
		{ID: "west-pipeline-01", KafkaTopic: "west.ops.alerts"},
		{ID: "east-pipeline-02", KafkaTopic: "east.from-registry"},
		{ID: "north-pipeline-03"},
	})

	cfg := createDefaultConfig().(*Config)
	cfg.Brokers = c.ListenAddrs()
	cfg.Authenticator = tenantauthtest.ID
	cfg.TenantTopics = map[string]string{"east-pipeline-02": "east.explicit"}
	cfg.Spans.Topic = "scada.alert-spans"
	cfg.DeadLetter.Directory = t.TempDir()
	cfg.Spans.TenantTopics = map[string]string{"east-pipeline-02": "east.explicit.spans"}
	cfg.SendingQueue.Get().QueueSize = 1 << 20
	require.NoError(t, cfg.Validate())
	exp := newExporter(t, cfg, h)
	ctx := context.Background()
	defer func() { require.NoError(t, exp.Shutdown(ctx)) }()
	for i, tenant := range []string{"west-pipeline-01", "east-pipeline-02", "north-pipeline-03"} {
		require.NoError(t, exp.ConsumeLogs(ctx, errorfanoutconnector.EventLogs(testEvent(i, tenant, "plc-gateway", "firing"))))
	}
	for topic, tenant := range map[string]string{
		"west.ops.alerts": "west-pipeline-01", "east.explicit": "east-pipeline-02", "scada.alerts": "north-pipeline-03",
	} {
		msgs := consumeAll(t, c.ListenAddrs(), topic, 1, 10*time.Second)
		require.Len(t, msgs, 1, topic)
		assert.Equal(t, tenant, header(msgs[0], tenants.Header), topic)
	}

	texp, err := NewFactory().CreateTraces(ctx, exportertest.NewNopSettings(componentType), cfg)
	require.NoError(t, err)
	require.NoError(t, texp.Start(ctx, h))
	defer func() { require.NoError(t, texp.Shutdown(ctx)) }()
	td := ptrace.NewTraces()
	addResource(td, "west-pipeline-01", "svc", 0, 1, 0)
	addResource(td, "east-pipeline-02", "svc", 1, 1, 0)
	addResource(td, "north-pipeline-03", "svc", 2, 1, 0)
	require.NoError(t, texp.ConsumeTraces(ctx, td))
	for topic, tenant := range map[string]string{
		"west.ops.alerts.spans": "west-pipeline-01", "east.explicit.spans": "east-pipeline-02", "scada.alert-spans": "north-pipeline-03",
	} {
		msgs := consumeAll(t, c.ListenAddrs(), topic, 1, 10*time.Second)
		require.Len(t, msgs, 1, topic)
		assert.Equal(t, tenant, header(msgs[0], tenants.Header), topic)
	}
}

// TestRegistryKafkaTopicNeedsTheExtension: a named authenticator that is
// not there fails at start, naming the key.
func TestRegistryKafkaTopicNeedsTheExtension(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Brokers = []string{"127.0.0.1:1"}
	cfg.Authenticator = component.MustNewID("tenantauth")
	exp, err := NewFactory().CreateLogs(context.Background(), exportertest.NewNopSettings(componentType), cfg)
	require.NoError(t, err)
	err = exp.Start(context.Background(), host{})
	require.ErrorContains(t, err, "authenticator")
	_ = exp.Shutdown(context.Background())
}
