package pcapreplay

import (
	"strings"
	"testing"
	"time"
)

// TestOtherCapturesDoNotCrashOrHang reads the fuzz, sweep and mixed-traffic
// captures under a deadline and checks the counts tshark agrees with.
func TestOtherCapturesDoNotCrashOrHang(t *testing.T) {
	for _, name := range []string{
		"modbus_test_data_part1", "modbus_test_data_part2", "bro_fuzz-72", "bro_fuzz-1011", "bro_modbusSmall",
		"modbus-and-non-modbus-p502", "modbus-eit", "4SICS-GeekLounge-151022-min", "mqtt",
	} {
		t.Run(name, func(t *testing.T) {
			type result struct {
				c   *Capture
				err error
			}
			done := make(chan result, 1)
			go func() {
				c, err := ReadFile(capturePath(name), Options{})
				done <- result{c, err}
			}()
			var r result
			select {
			case r = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("reconstruction did not finish within 20 s")
			}
			if r.err != nil {
				t.Fatal(r.err)
			}
			rows := readFixture(t, name)
			tsharkPDUs := 0
			for _, row := range rows {
				tsharkPDUs += len(strings.Split(row[colTransID], ","))
			}
			t.Logf("tshark PDUs %d, ours %d, stats %+v", tsharkPDUs, r.c.Stats.PDUs, r.c.Stats)
			if r.c.Stats.PDUs != tsharkPDUs {
				t.Errorf("reconstructed %d PDUs, tshark shows %d", r.c.Stats.PDUs, tsharkPDUs)
			}
			st := r.c.Stats
			switch name {
			case "modbus_test_data_part2":
				if st.Exceptions != 130 {
					t.Errorf("exceptions = %d, want the 130 of the sweep", st.Exceptions)
				}
			case "modbus-and-non-modbus-p502":
				if st.Requests != 6 || st.Responses != 6 || st.Unanswered != 0 || st.NonModbusSegments == 0 {
					t.Errorf("want 6 answered pairs and skipped non-Modbus segments, got %+v", st)
				}
			}
		})
	}
}
