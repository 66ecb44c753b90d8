//go:build e2e

package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/scadaotel/scadaotel/internal/certs"
	"github.com/scadaotel/scadaotel/internal/e2e"
)

// TestKafkaAlertsOverTLS (issue 22): kafka_alerts to a broker that speaks
// only TLS (kfake with the server certificate `scadaotel certs init`
// made), through the binary with its embedded default config. With TLS on
// but without the CA, the exporter logs each failed send with the reason
// (the broker's certificate is not trusted) and keeps the alert records
// on disk: nothing reaches the broker. Restarted on the same data
// directory with the CA, the queued records arrive, once; sarama over TLS
// reads them, and a plaintext client is refused by the broker.
func TestKafkaAlertsOverTLS(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	if out, err := exec.Command(e2e.Binary(t), "certs", "init", "--dir", dir, "--host", "localhost").CombinedOutput(); err != nil {
		t.Fatalf("certs init: %v\n%s", err, out)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, certs.ServerFile), filepath.Join(dir, certs.ServerKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, certs.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.pem holds no certificate")
	}
	kafka, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "scada.alerts", "scada.alert-spans"),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
	if err != nil {
		t.Fatal(err)
	}
	defer kafka.Close()
	broker := kafka.ListenAddrs()[0]

	jaeger := e2e.StartJaeger(t)
	env := newApplianceEnv(t)
	data := t.TempDir()
	vars := env.vars(jaeger, data, broker)
	base := []string{"--config", "embedded:default", "--config", "yaml:connectors::errorfanout::window: 6s"}
	// TLS on (a tls block), but the broker's CA not given: the system's
	// CAs do not know it.
	noCA := append(append([]string{}, base...), "--config", "yaml:exporters::kafka_alerts::tls::min_version: \"1.2\"")
	app := e2e.StartCollectorArgs(t, noCA, env.health, vars...)

	// An error burst of one service: 60 spans, half of them errors.
	conn, err := grpc.NewClient(env.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+westToken)
	for seq := range uint64(12) {
		td, _ := crashTrace("valve-control", 0, seq, true)
		if _, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(td)); err != nil {
			t.Fatal(err)
		}
	}
	// The alert fired (its history says so) and every send fails with the reason.
	e2e.Eventually(t, 30*time.Second, func() error {
		var h struct {
			Episodes []struct {
				Service string `json:"service"`
			} `json:"episodes"`
		}
		if err := tryGetJSON("http://"+env.alerts+"/api/v1/alerts", &h, westToken); err != nil {
			return err
		}
		if len(h.Episodes) == 0 || h.Episodes[0].Service != "valve-control" {
			return fmt.Errorf("no alert episode yet: %+v", h.Episodes)
		}
		return nil
	})
	e2e.Eventually(t, 30*time.Second, func() error {
		for _, line := range strings.Split(app.Output(), "\n") {
			if strings.Contains(line, "Kafka send of alert records failed; they stay queued and are retried") &&
				strings.Contains(line, "tls: failed to verify certificate: x509: certificate signed by unknown authority") {
				t.Logf("the failed send, logged: %s", line)
				return nil
			}
		}
		return errors.New("no failed send of alert records logged with its reason (the broker's certificate authority is unknown)")
	})
	if recs := readTLSTopic(t, broker, pool, "scada.alerts", 3*time.Second); len(recs) != 0 {
		t.Fatalf("%d records reached the broker without a trusted TLS connection", len(recs))
	}
	if code, _ := app.Stop(t); code != 0 {
		t.Errorf("exit code %d", code)
	}

	// Fixed: the CA given. The records queued on disk arrive, once.
	withCA := append(append([]string{}, base...), "--config", "yaml:exporters::kafka_alerts::tls::ca_file: "+filepath.Join(dir, certs.CAFile))
	app = e2e.StartCollectorArgs(t, withCA, env.health, vars...)
	var firing int
	e2e.Eventually(t, 30*time.Second, func() error {
		firing = 0
		for _, m := range readTLSTopic(t, broker, pool, "scada.alerts", 2*time.Second) {
			var r struct {
				Service string `json:"service"`
				State   string `json:"state"`
				Tenant  string `json:"tenant"`
			}
			if err := json.Unmarshal(m.Value, &r); err != nil {
				return fmt.Errorf("record %s: %v", m.Value, err)
			}
			if r.Service == "valve-control" && r.State == "firing" && r.Tenant == "west-pipeline-01" {
				firing++
			}
		}
		if firing == 0 {
			return errors.New("the queued firing record has not arrived")
		}
		return nil
	})
	if firing != 1 {
		t.Errorf("%d firing records of valve-control, want 1", firing)
	}
	if spans := readTLSTopic(t, broker, pool, "scada.alert-spans", 2*time.Second); len(spans) == 0 {
		t.Error("no raw error span on scada.alert-spans")
	}
	// The broker speaks TLS only: a plaintext client gets nothing.
	plain := sarama.NewConfig()
	plain.Net.DialTimeout, plain.Net.ReadTimeout = 2*time.Second, 2*time.Second
	plain.Metadata.Retry.Max = 0
	if c, err := sarama.NewClient([]string{broker}, plain); err == nil {
		_, err = c.Topics()
		c.Close()
		if err == nil {
			t.Error("a plaintext Kafka client was answered by the TLS broker")
		}
	}
	if code, _ := app.Stop(t); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

// readTLSTopic reads topic from the start over TLS trusting pool until it
// has been idle for idle.
func readTLSTopic(t *testing.T, broker string, pool *x509.CertPool, topic string, idle time.Duration) []*sarama.ConsumerMessage {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Net.TLS.Enable = true
	cfg.Net.TLS.Config = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	cons, err := sarama.NewConsumer([]string{broker}, cfg)
	if err != nil {
		t.Fatalf("sarama over TLS: %v", err)
	}
	defer cons.Close()
	pc, err := cons.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatalf("sarama over TLS: %v", err)
	}
	defer pc.Close()
	var out []*sarama.ConsumerMessage
	for {
		select {
		case m := <-pc.Messages():
			out = append(out, m)
			continue
		case <-time.After(idle):
		}
		return out
	}
}
