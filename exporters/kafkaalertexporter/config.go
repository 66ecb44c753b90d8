package kafkaalertexporter

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/scadaotel/scadaotel/internal/deadletter"
	"github.com/scadaotel/scadaotel/tenants"
)

// Config of the kafka_alerts exporter.
type Config struct {
	// Brokers are the bootstrap brokers (host:port).
	Brokers []string `mapstructure:"brokers"`
	// ClientID is the Kafka client id.
	ClientID string `mapstructure:"client_id"`
	// ProtocolVersion is the Kafka protocol version to speak (e.g. 3.6.0).
	ProtocolVersion string `mapstructure:"protocol_version"`
	// Topic receives the alert records.
	Topic string `mapstructure:"topic"`
	// TenantTopics overrides Topic per tenant.
	TenantTopics map[string]string `mapstructure:"tenant_topics"`
	// Authenticator names the tenantauth extension whose tenants'
	// kafka_topic (inline or in the tenants file, reloaded) overrides Topic
	// for tenants not in TenantTopics. Empty: the registry is not read.
	Authenticator component.ID `mapstructure:"authenticator"`
	// TraceURL is the link template of a record's trace_url; {trace_id} and
	// {tenant} are replaced (path-escaped).
	TraceURL string `mapstructure:"trace_url"`
	// Alarms configures the topic of process alarm transitions (records of
	// the alarm connector in the logs pipeline).
	Alarms AlarmsConfig `mapstructure:"alarms"`
	// Spans configures the optional raw error spans topic (traces pipelines).
	Spans SpansConfig `mapstructure:"spans"`
	// DeadLetter keeps raw spans Kafka refuses for good (larger than the
	// topic accepts even alone); required with spans.topic.
	DeadLetter deadletter.Config `mapstructure:"dead_letter"`
	// Audit exports the authenticator's audit trail to Kafka.
	Audit AuditConfig `mapstructure:"audit"`
	// Compression codec: none, gzip, snappy, lz4, zstd.
	Compression string `mapstructure:"compression"`
	// MaxMessageBytes caps one produced message.
	MaxMessageBytes int `mapstructure:"max_message_bytes"`
	// TLS, when present, connects with TLS.
	TLS configoptional.Optional[configtls.ClientConfig] `mapstructure:"tls"`
	// SASL authentication (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512).
	SASL SASLConfig `mapstructure:"sasl"`

	Timeout      exporterhelper.TimeoutConfig                             `mapstructure:",squash"`
	Retry        configretry.BackOffConfig                                `mapstructure:"retry_on_failure"`
	SendingQueue configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`

	_ struct{}
}

// AuditConfig exports the audit trail (issue 22: an auditor's copy off the
// box). Every record goes to Topic as the JSON line the trail holds (with
// its seq, prev and hash), in chain order (one key, one partition), at
// least once: consumers dedupe on seq.
type AuditConfig struct {
	// Topic receives the audit records ("" = no export).
	Topic string `mapstructure:"topic"`
	// PollInterval is how often the trail is checked for new records (other
	// processes, such as the tenants command, append to it too).
	PollInterval time.Duration `mapstructure:"poll_interval"`
}

// SpansConfig configures the raw error spans topic.
type SpansConfig struct {
	// Topic receives the error spans of firing keys as OTLP protobuf
	// (ExportTraceServiceRequest bytes). Empty: traces are not accepted.
	Topic string `mapstructure:"topic"`
	// OnlyErrors keeps only error spans (status Error); false writes all.
	OnlyErrors bool `mapstructure:"only_errors"`
	// TenantTopics overrides Topic per tenant. A tenant with its own alert
	// topic (tenant_topics) must have one here too, so its spans never share
	// a topic with other tenants'.
	TenantTopics map[string]string `mapstructure:"tenant_topics"`
}

// AlarmsConfig configures the alarm transitions topic.
type AlarmsConfig struct {
	// Topic receives the alarm transitions of tenants without a topic of
	// their own (a tenant with one gets "<its topic>.alarms"); empty is
	// DefaultAlarmsTopic.
	Topic string `mapstructure:"topic"`
}

// DefaultAlarmsTopic is alarms.topic when it is not set.
const DefaultAlarmsTopic = "scada.alarms"

// SASLConfig configures SASL authentication.
type SASLConfig struct {
	Mechanism string              `mapstructure:"mechanism"`
	Username  string              `mapstructure:"username"`
	Password  configopaque.String `mapstructure:"password"`
}

var compressions = map[string]sarama.CompressionCodec{
	"none": sarama.CompressionNone, "gzip": sarama.CompressionGZIP, "snappy": sarama.CompressionSnappy,
	"lz4": sarama.CompressionLZ4, "zstd": sarama.CompressionZSTD,
}

// Validate checks the configuration; errors name the key.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("brokers: at least one broker is required"))
	}
	for i, b := range c.Brokers {
		if !strings.Contains(b, ":") {
			errs = append(errs, fmt.Errorf("brokers[%d]: %q is not host:port", i, b))
		}
	}
	if _, err := sarama.ParseKafkaVersion(c.ProtocolVersion); err != nil {
		errs = append(errs, fmt.Errorf("protocol_version: %w", err))
	} else if v, _ := sarama.ParseKafkaVersion(c.ProtocolVersion); !v.IsAtLeast(sarama.V0_11_0_0) {
		errs = append(errs, fmt.Errorf("protocol_version: the idempotent producer needs 0.11.0 or later, got %s", c.ProtocolVersion))
	}
	if err := checkTopic("topic", c.Topic); err != nil {
		errs = append(errs, err)
	}
	for tenant, topic := range c.TenantTopics {
		if !tenants.ValidID(tenant) {
			errs = append(errs, fmt.Errorf("tenant_topics: %w", tenants.CheckID(tenant)))
		}
		if err := checkTopic("tenant_topics."+tenant, topic); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Alarms.Topic != "" {
		if err := checkTopic("alarms.topic", c.Alarms.Topic); err != nil {
			errs = append(errs, err)
		}
	}
	for tenant, topic := range c.TenantTopics {
		if err := checkTopic("tenant_topics."+tenant+" (with "+AlarmsTopicSuffix+" for its alarms)", topic+AlarmsTopicSuffix); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Spans.Topic != "" {
		if c.DeadLetter.Directory == "" {
			errs = append(errs, errors.New("dead_letter.directory: required with spans.topic (raw spans Kafka refuses for good, e.g. larger than max_message_bytes, are kept there for replay)"))
		}
		if err := checkTopic("spans.topic", c.Spans.Topic); err != nil {
			errs = append(errs, err)
		}
		for tenant := range c.TenantTopics {
			if _, ok := c.Spans.TenantTopics[tenant]; !ok {
				errs = append(errs, fmt.Errorf("spans.tenant_topics.%s: required because tenant_topics gives this tenant its own alert topic (its raw spans must not go to the shared spans.topic)", tenant))
			}
		}
	}
	for tenant, topic := range c.Spans.TenantTopics {
		if !tenants.ValidID(tenant) {
			errs = append(errs, fmt.Errorf("spans.tenant_topics: %w", tenants.CheckID(tenant)))
		}
		if err := checkTopic("spans.tenant_topics."+tenant, topic); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Audit.Topic != "" {
		if err := checkTopic("audit.topic", c.Audit.Topic); err != nil {
			errs = append(errs, err)
		}
		if c.Authenticator == (component.ID{}) {
			errs = append(errs, errors.New("audit.topic: needs authenticator (the tenantauth extension whose audit trail is exported)"))
		}
		if !c.SendingQueue.HasValue() || c.SendingQueue.Get().StorageID == nil {
			errs = append(errs, errors.New("audit.topic: needs sending_queue.storage (the export's position in the trail is kept there)"))
		}
		if c.Audit.PollInterval < 100*time.Millisecond || c.Audit.PollInterval > time.Minute {
			errs = append(errs, fmt.Errorf("audit.poll_interval: must be in 100ms..1m, got %v", c.Audit.PollInterval))
		}
	}
	if _, ok := compressions[c.Compression]; !ok {
		errs = append(errs, fmt.Errorf("compression: %q is not one of none, gzip, snappy, lz4, zstd", c.Compression))
	}
	if c.MaxMessageBytes <= 0 {
		errs = append(errs, fmt.Errorf("max_message_bytes: must be positive, got %d", c.MaxMessageBytes))
	}
	switch c.SASL.Mechanism {
	case "":
	case sarama.SASLTypePlaintext, sarama.SASLTypeSCRAMSHA256, sarama.SASLTypeSCRAMSHA512:
		if c.SASL.Username == "" || c.SASL.Password == "" {
			errs = append(errs, errors.New("sasl: username and password are required"))
		}
	default:
		errs = append(errs, fmt.Errorf("sasl.mechanism: %q is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512", c.SASL.Mechanism))
	}
	if c.Retry.InitialInterval <= 0 {
		errs = append(errs, fmt.Errorf("retry_on_failure.initial_interval: must be positive, got %v", c.Retry.InitialInterval))
	}
	if c.Retry.MaxInterval < c.Retry.InitialInterval {
		errs = append(errs, fmt.Errorf("retry_on_failure.max_interval: must be at least initial_interval, got %v", c.Retry.MaxInterval))
	}
	if c.Retry.Multiplier < 1 {
		errs = append(errs, fmt.Errorf("retry_on_failure.multiplier: must be at least 1, got %v", c.Retry.Multiplier))
	}
	if c.SendingQueue.HasValue() {
		q := c.SendingQueue.Get()
		if q.NumConsumers != 1 {
			errs = append(errs, fmt.Errorf("sending_queue.num_consumers: must be 1 so alerts leave in order, got %d", q.NumConsumers))
		}
	}
	return errors.Join(errs...)
}

func checkTopic(key, t string) error {
	if t == "" || len(t) > 249 {
		return fmt.Errorf("%s: topic name must be 1..249 characters, got %q", key, t)
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("%s: topic %q has a character outside [a-zA-Z0-9._-]", key, t)
		}
	}
	return nil
}
