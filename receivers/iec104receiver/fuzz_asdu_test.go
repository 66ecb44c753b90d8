package iec104receiver

import (
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/scadaotel/scadaotel/internal/iec104"
	"github.com/scadaotel/scadaotel/internal/iec104/iec104pcap"
	"github.com/scadaotel/scadaotel/internal/thirdparty"
)

// FuzzHandleASDU: whatever ASDU an outstation sends, the receiver maps it
// or counts it, never panics. Seeded from the captures' ASDUs.
func FuzzHandleASDU(f *testing.F) {
	for _, name := range []string{"JavaRMI_and_IEC_Misc", "TestDissectIec104"} {
		c, err := iec104pcap.ReadFile(thirdparty.Capture(f, "iec104-iti/"+name+".pcap"))
		if err != nil {
			f.Fatal(err)
		}
		for _, a := range c.APDUs {
			if p, err := iec104.Parse(a.Raw); err == nil && p.Format == iec104.FormatI {
				f.Add(p.ASDU)
			}
		}
	}
	cfg := testConfig(f, oneOutstation(map[string]any{"discovery": true}))
	r, err := newReceiver(receivertest.NewNopSettings(component.MustNewType(typeStr)), cfg, consumerNop{})
	if err != nil {
		f.Fatal(err)
	}
	o := r.outs[0]
	now := time.Now()
	f.Fuzz(func(_ *testing.T, b []byte) {
		o.asdu(b, now)
	})
}
