//go:build e2e && soak

package errorfanoutconnector_test

import (
	"testing"
	"time"
)

// TestOutagesSoak is the outage check at full length: the broker and
// Jaeger down for 2 minutes during 60 s error bursts, the default 30 s
// window, and the appliance restarted (SIGTERM, SIGKILL) a minute into the
// outages. About 4-6 minutes (the three runs are parallel):
//
//	flock /tmp/scadaotel-go.lock go test -tags soak -run TestOutagesSoak -timeout 20m -v ./connectors/errorfanoutconnector/
func TestOutagesSoak(t *testing.T) {
	sc := outageScenario{
		window:    30 * time.Second,
		baseline:  10 * time.Second,
		burst:     60 * time.Second,
		burst2At:  15 * time.Second,
		outage:    2 * time.Minute,
		restartAt: time.Minute,
		settle:    2 * time.Minute,
		drain:     4 * time.Minute, // gRPC reconnect backoff reaches 2 minutes
	}
	for _, mode := range []restartMode{noRestart, sigterm, sigkill} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			runOutage(t, sc, mode)
		})
	}
}
