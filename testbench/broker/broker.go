// Package broker runs a Kafka-protocol broker on loopback (franz-go's kfake)
// for local runs and tests, so the alert path can be exercised without an
// external Kafka cluster.
package broker

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kfake"
)

// DefaultTopic is the alert topic the Kafka alert exporter writes.
const DefaultTopic = "scada.alerts"

// Broker is a running in-process Kafka-protocol broker on 127.0.0.1.
type Broker struct {
	cluster *kfake.Cluster
	// Addr is the bootstrap address, "127.0.0.1:port".
	Addr string
}

// Start listens on 127.0.0.1:port (0 picks a free port) with the given
// topics created (1 partition each) and auto topic creation enabled.
func Start(port int, topics ...string) (*Broker, error) {
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.Ports(port), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(1)}
	if len(topics) > 0 {
		opts = append(opts, kfake.SeedTopics(1, topics...))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka broker on 127.0.0.1:%d: %w", port, err)
	}
	addrs := c.ListenAddrs()
	if len(addrs) == 0 {
		c.Close()
		return nil, fmt.Errorf("kafka broker: no listener")
	}
	return &Broker{cluster: c, Addr: addrs[0]}, nil
}

// Close stops the broker; its data is lost.
func (b *Broker) Close() { b.cluster.Close() }
