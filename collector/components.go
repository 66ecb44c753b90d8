package main

import (
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/debugexporter"
	"go.opentelemetry.io/collector/exporter/otlpexporter"
	"go.opentelemetry.io/collector/exporter/otlphttpexporter"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/batchprocessor"
	"go.opentelemetry.io/collector/processor/memorylimiterprocessor"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/healthcheckv2extension"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/pprofextension"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"

	"github.com/scadaotel/scadaotel/connectors/alarmconnector"
	"github.com/scadaotel/scadaotel/connectors/errorfanoutconnector"
	"github.com/scadaotel/scadaotel/exporters/durableotlpexporter"
	"github.com/scadaotel/scadaotel/exporters/kafkaalertexporter"
	"github.com/scadaotel/scadaotel/exporters/vmexporter"
	"github.com/scadaotel/scadaotel/extensions/logstorageextension"
	"github.com/scadaotel/scadaotel/extensions/promqueryextension"
	"github.com/scadaotel/scadaotel/extensions/scadauiextension"
	"github.com/scadaotel/scadaotel/extensions/tenantauthextension"
	"github.com/scadaotel/scadaotel/extensions/tracequeryextension"
	"github.com/scadaotel/scadaotel/processors/groupcommitprocessor"
	"github.com/scadaotel/scadaotel/processors/tenantstampprocessor"
	"github.com/scadaotel/scadaotel/processors/traceidrepairprocessor"
	"github.com/scadaotel/scadaotel/receivers/iec104receiver"
	"github.com/scadaotel/scadaotel/receivers/promremotewritereceiver"
	"github.com/scadaotel/scadaotel/receivers/scadareceiver"
)

// components is the one list of what the scadaotel distribution contains.
// Each component adds itself here, in the list of its kind.
func components() (otelcol.Factories, error) {
	var err error
	f := otelcol.Factories{Telemetry: otelconftelemetry.NewFactory()}

	if f.Receivers, err = otelcol.MakeFactoryMap[receiver.Factory](
		otlpreceiver.NewFactory(),
		scadareceiver.NewFactory(),
		iec104receiver.NewFactory(),
		promremotewritereceiver.NewFactory(),
	); err != nil {
		return f, err
	}
	if f.Processors, err = otelcol.MakeFactoryMap[processor.Factory](
		memorylimiterprocessor.NewFactory(),
		batchprocessor.NewFactory(),
		tenantstampprocessor.NewFactory(),
		traceidrepairprocessor.NewFactory(),
		groupcommitprocessor.NewFactory(),
	); err != nil {
		return f, err
	}
	if f.Connectors, err = otelcol.MakeFactoryMap[connector.Factory](
		errorfanoutconnector.NewFactory(),
		alarmconnector.NewFactory(),
	); err != nil {
		return f, err
	}
	if f.Exporters, err = otelcol.MakeFactoryMap[exporter.Factory](
		debugexporter.NewFactory(),
		otlpexporter.NewFactory(),
		otlphttpexporter.NewFactory(),
		durableotlpexporter.NewFactory(),
		kafkaalertexporter.NewFactory(),
		vmexporter.NewFactory(),
	); err != nil {
		return f, err
	}
	if f.Extensions, err = otelcol.MakeFactoryMap[extension.Factory](
		filestorage.NewFactory(), // for users who want it; the default config uses log_storage
		logstorageextension.NewFactory(),
		healthcheckv2extension.NewFactory(),
		pprofextension.NewFactory(), // not in the default config: for profiling on demand
		tenantauthextension.NewFactory(),
		tracequeryextension.NewFactory(),
		scadauiextension.NewFactory(),
		promqueryextension.NewFactory(),
	); err != nil {
		return f, err
	}
	setModules(&f)
	return f, nil
}
