// Package scadaseries is the contract of the series the RTU receivers
// (scada for Modbus, iec104) write, so that dashboards, the UI and alarms
// read one shape whatever protocol an RTU speaks: the names, the
// attributes, the qualities, and how an RTU endpoint is written.
package scadaseries

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
)

// Series and their attributes.
const (
	MetricPressure = "scada_pressure_gauge"
	MetricValve    = "scada_valve_state"
	MetricRTUUp    = "scada_rtu_up"

	AttrStation      = "scada.station" // resource
	AttrRTU          = "scada.rtu"     // resource
	AttrQuality      = "quality"
	AttrPointStation = "station"
	AttrPointUnit    = "unit"
	AttrPointName    = "point"
	AttrValveID      = "valve_id"
	AttrValveStatus  = "status"
	AttrUpRTU        = "rtu"
)

// Qualities (the "quality" attribute) both receivers write.
const (
	QualityGood     = "good"
	QualityBad      = "bad"       // the RTU answered, but not with a usable value
	QualityCommLost = "comm_lost" // no answer: timeout, refused, malformed, disconnected
)

// CheckTCPEndpoint checks an RTU endpoint, tcp://host:port.
func CheckTCPEndpoint(ep string) error {
	if ep == "" {
		return errors.New("required (tcp://host:port)")
	}
	u, err := url.Parse(ep)
	if err != nil {
		return fmt.Errorf("cannot parse %q: %w", ep, err)
	}
	if u.Scheme != "tcp" {
		return fmt.Errorf("%q: scheme must be tcp://", ep)
	}
	if u.Path != "" || u.RawQuery != "" || u.User != nil {
		return fmt.Errorf("%q: must be tcp://host:port only", ep)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || host == "" {
		return fmt.Errorf("%q: must be tcp://host:port", ep)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: invalid port %q", ep, port)
	}
	return nil
}
