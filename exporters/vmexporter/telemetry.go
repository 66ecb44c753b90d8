package vmexporter

import "github.com/scadaotel/scadaotel/tenants"

// Self-metric names, listed in documentation.md (the Prometheus endpoint
// exposes them unchanged).
const (
	MetricSamples                   = "scadaotel_victoriametrics_samples"
	MetricRefusedBatches            = "scadaotel_victoriametrics_refused_batches"
	MetricRejectedSamples           = "scadaotel_victoriametrics_rejected_samples"
	MetricWALCommits                = "scadaotel_victoriametrics_wal_commits"
	MetricWALBytes                  = "scadaotel_victoriametrics_wal_bytes"
	MetricCheckpoints               = "scadaotel_victoriametrics_checkpoints"
	MetricWALReplayedSamples        = "scadaotel_victoriametrics_wal_replayed_samples"
	MetricWALDamagedRegions         = "scadaotel_victoriametrics_wal_damaged_regions"
	MetricWALDamagedBytes           = "scadaotel_victoriametrics_wal_damaged_bytes"
	MetricWALDamagedSegments        = "scadaotel_victoriametrics_wal_damaged_segments"
	MetricWALTornTails              = "scadaotel_victoriametrics_wal_torn_tails"
	MetricWALTornBytes              = "scadaotel_victoriametrics_wal_torn_bytes"
	MetricWALWriteErrors            = "scadaotel_victoriametrics_wal_write_errors"
	MetricDiskReserveRefusedBatches = "scadaotel_victoriametrics_disk_reserve_refused_batches"
	MetricDiskReserveFull           = "scadaotel_victoriametrics_disk_reserve_full"
	MetricDiskReserveFreeBytes      = "scadaotel_victoriametrics_disk_reserve_free_bytes"
	MetricRemoteSamples             = "scadaotel_victoriametrics_remote_samples"
	MetricRemoteRequests            = "scadaotel_victoriametrics_remote_requests"
	MetricRemoteSentBytes           = "scadaotel_victoriametrics_remote_sent_bytes"
	MetricRemoteDeadLetterPoints    = "scadaotel_victoriametrics_remote_dead_letter_datapoints"
	// AttrTenant is the tenant attribute of self-metrics.
	AttrTenant = tenants.SelfMetricAttribute
)

// MetricNames lists every self-metric the exporter registers (local mode
// registers all but the remote ones, remote mode the remote ones and
// MetricRefusedBatches).
func MetricNames() []string {
	return []string{MetricSamples, MetricRefusedBatches, MetricRejectedSamples, MetricWALCommits, MetricWALBytes, MetricCheckpoints, MetricWALReplayedSamples, MetricWALDamagedRegions, MetricWALDamagedBytes, MetricWALDamagedSegments, MetricWALTornTails, MetricWALTornBytes, MetricWALWriteErrors, MetricDiskReserveRefusedBatches, MetricDiskReserveFull, MetricDiskReserveFreeBytes, MetricRemoteSamples, MetricRemoteRequests, MetricRemoteSentBytes, MetricRemoteDeadLetterPoints}
}
