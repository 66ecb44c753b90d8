package scadareceiver

import (
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/attribute"
)

func testSettings(t *testing.T) receiver.Settings {
	t.Helper()
	return receivertest.NewNopSettings(component.MustNewType(typeStr))
}

func testSettingsTB(testing.TB) receiver.Settings {
	return receivertest.NewNopSettings(component.MustNewType(typeStr))
}

func attrKey(k string) attribute.Key { return attribute.Key(k) }

func slicesSortDur(d []time.Duration) { slices.Sort(d) }
