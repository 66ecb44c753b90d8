package durableotlpexporter

import (
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/config/configgrpc"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/scadaotel/scadaotel/internal/deadletter"
)

// JaegerMaxRecvBytes is Jaeger's (and grpc-go's) default gRPC receive limit.
const JaegerMaxRecvBytes = 4 << 20

// DefaultMaxRequestBytes leaves room under JaegerMaxRecvBytes for the gRPC
// framing of the request and for a destination that counts a little more.
const DefaultMaxRequestBytes = JaegerMaxRecvBytes - 128<<10

// Config of the durable_otlp exporter.
type Config struct {
	TimeoutConfig exporterhelper.TimeoutConfig                             `mapstructure:",squash"`
	QueueConfig   configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`
	RetryConfig   configretry.BackOffConfig                                `mapstructure:"retry_on_failure"`
	ClientConfig  configgrpc.ClientConfig                                  `mapstructure:",squash"`

	// MaxRequestBytes bounds every request sent (its protobuf size): larger
	// batches are split before sending. Default: under Jaeger's 4 MiB.
	MaxRequestBytes int `mapstructure:"max_request_bytes"`
	// DeadLetter keeps what the destination refuses for good.
	DeadLetter deadletter.Config `mapstructure:"dead_letter"`
}

// Validate refuses every setting under which an acknowledged request could be
// dropped, naming the key.
func (c *Config) Validate() error {
	var errs []error
	if c.ClientConfig.Endpoint == "" {
		errs = append(errs, errors.New("endpoint: required (the destination's OTLP gRPC address)"))
	}
	if c.MaxRequestBytes < 64<<10 {
		errs = append(errs, fmt.Errorf("max_request_bytes: must be at least 65536, got %d", c.MaxRequestBytes))
	}
	if !c.QueueConfig.HasValue() {
		errs = append(errs, errors.New("sending_queue: must be enabled: requests are acknowledged when the queue has them on disk"))
	} else if c.QueueConfig.Get().StorageID == nil {
		errs = append(errs, errors.New("sending_queue.storage: required (a storage extension such as file_storage): an in-memory queue loses acknowledged data in a crash"))
	}
	if !c.RetryConfig.Enabled {
		errs = append(errs, errors.New("retry_on_failure.enabled: must be true: a failed send without retry drops acknowledged data"))
	} else if c.RetryConfig.MaxElapsedTime != 0 {
		errs = append(errs, fmt.Errorf("retry_on_failure.max_elapsed_time: must be 0 (retry until the destination is back), got %s: a request out of retries is dropped after it was acknowledged", c.RetryConfig.MaxElapsedTime))
	}
	if err := c.DeadLetter.RequireDirectory(); err != nil {
		errs = append(errs, err)
	}
	if err := c.DeadLetter.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
