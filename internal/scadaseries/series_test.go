package scadaseries

import "testing"

func TestCheckTCPEndpoint(t *testing.T) {
	for ep, ok := range map[string]bool{
		"tcp://10.0.0.7:502": true, "tcp://rtu-7:2404": true,
		"": false, "10.0.0.7:502": false, "udp://h:1": false, "tcp://h:1/x": false, "tcp://u@h:1": false,
		"tcp://:502": false, "tcp://h": false, "tcp://h:0": false, "tcp://h:70000": false, "tcp://h:x": false, "::": false,
	} {
		if err := CheckTCPEndpoint(ep); (err == nil) != ok {
			t.Errorf("%q: err = %v, want ok=%v", ep, err, ok)
		}
	}
}
