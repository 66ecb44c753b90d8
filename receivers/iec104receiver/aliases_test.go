package iec104receiver

import (
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/otel/attribute"
)

type (
	consumerCapabilities = consumer.Capabilities
	pcommonValue         = pcommon.Value
	attributeKeyValue    = attribute.KeyValue
)
