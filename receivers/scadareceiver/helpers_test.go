package scadareceiver

import (
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
)

func testSettings(t *testing.T) receiver.Settings {
	t.Helper()
	return receivertest.NewNopSettings(component.MustNewType(typeStr))
}
