package kafkaalertexporter

import (
	"path/filepath"
	"testing"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
)

func loadConfig(t *testing.T, name string) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	sub, err := cm.Sub(component.NewIDWithName(componentType, name).String())
	require.NoError(t, err)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg
}

func TestConfigDefault(t *testing.T) {
	cfg := loadConfig(t, "")
	require.NoError(t, confmap.Validate(cfg))
	assert.Equal(t, "scada.alerts", cfg.Topic)
	assert.Equal(t, []string{"127.0.0.1:9092"}, cfg.Brokers)
	q := cfg.SendingQueue.Get()
	assert.Equal(t, 1, q.NumConsumers, "one consumer: in order")
	assert.Equal(t, exporterhelper.RequestSizerTypeBytes, q.Sizer, "bounded in bytes")
	assert.Zero(t, cfg.Retry.MaxElapsedTime, "never gives up")

	sc, err := saramaConfig(t.Context(), cfg)
	require.NoError(t, err)
	assert.True(t, sc.Producer.Idempotent)
	assert.Equal(t, sarama.WaitForAll, sc.Producer.RequiredAcks)
	assert.Equal(t, sarama.CompressionSnappy, sc.Producer.Compression)
	assert.Equal(t, 1, sc.Net.MaxOpenRequests)
}

func TestConfigReadmeExample(t *testing.T) {
	cfg := loadConfig(t, "full")
	require.NoError(t, confmap.Validate(cfg))
	e := &alertExporter{cfg: cfg}
	assert.Equal(t, "east.alerts", e.topicFor("east-pipeline-02"))
	assert.Equal(t, "scada.alerts", e.topicFor("west-pipeline-01"))
	assert.Equal(t, "east.alert-spans", e.spansTopicFor("east-pipeline-02"))
	assert.Equal(t, "scada.alert-spans", e.spansTopicFor("west-pipeline-01"))
	assert.Equal(t, "${env:KAFKA_PASSWORD}", string(cfg.SASL.Password), "the collector resolves ${env:...}; the raw loader does not")
	assert.Equal(t, "file_storage", cfg.SendingQueue.Get().StorageID.String())
	assert.Equal(t, "scada.audit", cfg.Audit.Topic)
	require.True(t, cfg.TLS.HasValue())
	assert.Equal(t, "/etc/scadaotel/kafka-ca.pem", cfg.TLS.Get().CAFile)
	cfg.TLS = createDefaultConfig().(*Config).TLS // the CA file does not exist here
	sc, err := saramaConfig(t.Context(), cfg)
	require.NoError(t, err)
	assert.Equal(t, sarama.CompressionZSTD, sc.Producer.Compression)
	assert.True(t, sc.Net.SASL.Enable)
	assert.Equal(t, sarama.SASLMechanism(sarama.SASLTypeSCRAMSHA512), sc.Net.SASL.Mechanism)
	require.NotNil(t, sc.Net.SASL.SCRAMClientGeneratorFunc)
	assert.Equal(t, sarama.V3_6_0_0, sc.Version)
}

func TestConfigValidateNamesKeys(t *testing.T) {
	err := loadConfig(t, "bad").Validate()
	require.Error(t, err)
	for _, want := range []string{"brokers[0]:", "topic:", "compression:", "sasl.mechanism:", "sending_queue.num_consumers:", "spans.tenant_topics.east-pipeline-02: required"} {
		assert.Contains(t, err.Error(), want)
	}
}
