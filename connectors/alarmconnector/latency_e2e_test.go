//go:build e2e

package alarmconnector

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/scadaotel/scadaotel/internal/e2e"
	"github.com/scadaotel/scadaotel/internal/freeport"
	"github.com/scadaotel/scadaotel/tenants"
	"github.com/scadaotel/scadaotel/testbench/rtusim"
)

// BenchmarkRTUReplyToKafka measures, through the real binary, the time from
// an RTU's reply (the sample's time, set by the scada receiver when the
// poll's replies arrive) to the alarm record's arrival at a Kafka consumer
// (sarama, fetch wait 10 ms), at the default pressure poll group (500 ms).
// Each round moves the 20 points of a simulated RTU across their H limit
// (raise, rtn, realarm, ...): 20 records a round. Run with -benchtime 1x:
//
//	go test -tags e2e -run XXX -bench BenchmarkRTUReplyToKafka -benchtime 1x ./connectors/alarmconnector/
func BenchmarkRTUReplyToKafka(b *testing.B) {
	const rounds = 25
	broker, err := freeport.Addr()
	if err != nil {
		b.Fatal(err)
	}
	_, portStr, _ := net.SplitHostPort(broker)
	port, _ := strconv.Atoi(portStr)
	kafka, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.SeedTopics(1, "scada.alarms", "scada.alerts"))
	if err != nil {
		b.Fatal(err)
	}
	defer kafka.Close()
	rtuA, bankA := startRTU(b, 50)
	rtuB, _ := startRTU(b, 50)
	dir := b.TempDir()
	tenantsFile := filepath.Join(dir, "tenants.yaml")
	if err := os.WriteFile(tenantsFile, []byte("tenants:\n  - id: west-pipeline-01\n    token_sha256: ["+tenants.HashToken(e2eTokenA)+"]\n  - id: east-pipeline-02\n    token_sha256: ["+tenants.HashToken(e2eTokenB)+"]\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	defsFile := filepath.Join(dir, "alarms.yaml")
	if err := os.WriteFile(defsFile, []byte(e2eDefinitions()), 0o600); err != nil {
		b.Fatal(err)
	}
	dataDir := filepath.Join(dir, "data")
	health, apiAddr := e2e.FreeAddr(b), e2e.FreeAddr(b)
	cfg := e2eConfig(health, apiAddr, broker, tenantsFile, defsFile, dataDir,
		strings.TrimPrefix(rtuA.Endpoint(), "tcp://"), strings.TrimPrefix(rtuB.Endpoint(), "tcp://"))
	cfg = strings.Replace(cfg, "poll_groups: {pressure: 200ms}", "poll_groups: {pressure: 500ms}", 1)
	cfg = strings.Replace(cfg, "tick_interval: 100ms", "tick_interval: 1s", 1)
	col := e2e.StartCollector(b, cfg, "SCADAOTEL_DATA_DIR="+dataDir)
	defer col.Stop(b)

	sc := sarama.NewConfig()
	sc.Consumer.MaxWaitTime = 10 * time.Millisecond
	cons, err := sarama.NewConsumer([]string{broker}, sc)
	if err != nil {
		b.Fatal(err)
	}
	defer cons.Close()
	pc, err := cons.ConsumePartition("scada.alarms", 0, sarama.OffsetOldest)
	if err != nil {
		b.Fatal(err)
	}
	defer pc.Close()
	time.Sleep(2 * time.Second) // polls running
	var lat []time.Duration
	b.ResetTimer()
	for round := 0; round < rounds; round++ {
		v := uint16(75)
		if round%2 == 1 {
			v = 50
		}
		for i := 0; i < e2ePoints; i++ {
			bankA.Set(1, rtusim.Holding, uint16(i), v)
		}
		for n := 0; n < e2ePoints; n++ {
			select {
			case m := <-pc.Messages():
				got := time.Now()
				var r Record
				if err := json.Unmarshal(m.Value, &r); err != nil || r.SampleTime == nil {
					b.Fatalf("record %s: %v", m.Value, err)
				}
				st, err := time.Parse(time.RFC3339Nano, *r.SampleTime)
				if err != nil {
					b.Fatal(err)
				}
				lat = append(lat, got.Sub(st))
			case <-time.After(10 * time.Second):
				b.Fatalf("round %d: %d of %d records", round, n, e2ePoints)
			}
		}
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))] }
	b.ReportMetric(float64(pct(0.5).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(pct(0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(float64(len(lat)), "records")
	fmt.Fprintf(os.Stderr, "RTU reply → Kafka consumer over %d records: p50 %s, p99 %s, max %s\n", len(lat), pct(0.5), pct(0.99), lat[len(lat)-1])
}
