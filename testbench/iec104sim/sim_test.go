package iec104sim

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"gopkg.in/yaml.v3"

	"github.com/scadaotel/scadaotel/internal/iec104"
	"github.com/scadaotel/scadaotel/internal/thirdparty"
	"github.com/scadaotel/scadaotel/receivers/iec104receiver"
)

// startReceiver runs the real iec104 receiver on the emitted config.
func startReceiver(t *testing.T, s *Sim) *consumertest.MetricsSink {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(s.ReceiverYAML()), &m); err != nil {
		t.Fatal(err)
	}
	f := iec104receiver.NewFactory()
	cfg := f.CreateDefaultConfig()
	if err := confmap.NewFromStringMap(m["iec104"].(map[string]any)).Unmarshal(cfg); err != nil {
		t.Fatal(err)
	}
	sink := &consumertest.MetricsSink{}
	r, err := f.CreateMetrics(context.Background(), receivertest.NewNopSettings(component.MustNewType("iec104")), cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Shutdown(context.Background()) })
	return sink
}

func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSyntheticServesTheReceiver: the receiver, on the emitted config,
// gets every point by interrogation and then the spontaneous changes.
func TestSyntheticServesTheReceiver(t *testing.T) {
	s, err := New(Config{Outstations: 2, Points: 10, Interval: 50 * time.Millisecond, Changes: 2, Tenant: "t1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	sink := startReceiver(t, s)
	eventually(t, "interrogation and spontaneous changes", func() bool {
		for _, o := range s.Outstations {
			st := o.Server.Stats()
			if st.Interrogations < 1 || st.Spontaneous < 5 {
				return false
			}
		}
		return sink.DataPointCount() > 2*(8+2*4)+20
	})
}

// TestCaptureValues: the capture's monitoring objects become the served
// points; the control endpoint changes one and drops the link.
func TestCaptureValues(t *testing.T) {
	s, err := New(Config{Pcap: thirdparty.Capture(t, "iec104-iti/JavaRMI_and_IEC_Misc.pcap"), Tenant: "t1"})
	if err != nil {
		t.Fatal(err)
	}
	pts := s.Outstations[0].Server.Points()
	types := map[iec104.TypeID]int{}
	for _, p := range pts {
		types[p.Type]++
		if p.CA != 37133 {
			t.Errorf("point %+v: common address", p)
		}
	}
	if types[iec104.MSpNa1] == 0 || types[iec104.MDpNa1] == 0 || types[iec104.MMeNb1] == 0 {
		t.Errorf("types served %v, want the capture's 1, 3 and 11", types)
	}
	if len(s.Outstations[0].updates) == 0 {
		t.Error("no changes to replay")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	startReceiver(t, s)
	ctl := httptest.NewServer(s.Handler())
	defer ctl.Close()
	eventually(t, "a connection", func() bool { return s.Outstations[0].Server.Connections() == 1 })
	for _, u := range []string{"/set?os=0&ca=37133&ioa=39999&type=11&value=7", "/drop?os=0", "/fault?os=0&name=silent&on=false", "/burst?os=0&n=20"} {
		resp, err := http.Post(ctl.URL+u, "", nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v", u, resp, err)
		}
		resp.Body.Close()
	}
	eventually(t, "a reconnect", func() bool { return s.Outstations[0].Server.Stats().Connections >= 2 })
	resp, err := http.Get(ctl.URL + "/stats?os=0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(b), "interrogations") {
		t.Errorf("stats: %s", b)
	}
}

// TestCSVProfile: a CSV's columns become points named after the header;
// each interval applies the next row.
func TestCSVProfile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "profile.csv")
	if err := os.WriteFile(p, []byte("DATETIME,P_J280,P_J269\n01/01/14 00,1.5,2.5\n01/01/14 01,3,4\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{CSV: p, Interval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if y := s.ReceiverYAML(); !strings.Contains(y, "name: P_J280, kind: pressure, common_address: 1, ioa: 1000") {
		t.Errorf("config %s", y)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	sink := startReceiver(t, s)
	eventually(t, "the second row", func() bool {
		for _, md := range sink.AllMetrics() {
			ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
			for i := 0; i < ms.Len(); i++ {
				dps := ms.At(i).Gauge().DataPoints()
				for j := 0; j < dps.Len(); j++ {
					if v, _ := dps.At(j).Attributes().Get("point"); v.Str() == "P_J269" && dps.At(j).DoubleValue() == 4 {
						return true
					}
				}
			}
		}
		return false
	})
}
