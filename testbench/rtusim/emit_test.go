package rtusim

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/confmap"
	"gopkg.in/yaml.v3"

	"github.com/scadaotel/scadaotel/receivers/scadareceiver"
)

// TestEmittedConfigIsAValidScadaReceiverConfig loads what `rtu
// --emit-config` prints into the real receiver's config and validates it.
func TestEmittedConfigIsAValidScadaReceiverConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Tenant: "west-pipeline-01", Source: SourceConfig{Kind: "synthetic", Synthetic: SyntheticConfig{RTUs: 3, Duration: time.Second}}},
		{Source: SourceConfig{Kind: "pcap", Pcap: PcapConfig{File: filepath.Join("..", "testdata", "modbus-iti", "modbus_test.pcap")}}},
	} {
		t.Run(cfg.Source.Kind, func(t *testing.T) {
			sim, err := New(cfg, "")
			if err != nil {
				t.Fatal(err)
			}
			if err := sim.Start(); err != nil {
				t.Fatal(err)
			}
			defer sim.Stop()
			text, err := sim.ReceiverYAML()
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := yaml.Unmarshal([]byte(text), &m); err != nil {
				t.Fatal(err)
			}
			sub, err := confmap.NewFromStringMap(m).Sub("receivers::scada")
			if err != nil {
				t.Fatal(err)
			}
			rc := scadareceiver.NewFactory().CreateDefaultConfig().(*scadareceiver.Config)
			if err := sub.Unmarshal(rc); err != nil {
				t.Fatalf("unmarshal into the receiver config: %v\n%s", err, text)
			}
			if err := rc.Validate(); err != nil {
				t.Fatalf("receiver rejects the emitted config: %v\n%s", err, text)
			}
			wantRTUs := 0
			for _, r := range sim.RTUs {
				wantRTUs += len(r.Units)
				if !strings.Contains(text, r.Endpoint()) {
					t.Errorf("endpoint %s of %s missing", r.Endpoint(), r.Name)
				}
			}
			if len(rc.RTUs) != wantRTUs {
				t.Errorf("%d receiver RTUs, want %d", len(rc.RTUs), wantRTUs)
			}
		})
	}
}
