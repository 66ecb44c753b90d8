package rtusim

import (
	"fmt"
	"net/netip"

	"github.com/scadaotel/scadaotel/testbench/pcapreplay"
)

// FromCapture turns a reconstructed capture into a replay: each server in
// the capture becomes one RTU (in address order, RTU index 0..n-1) serving
// the units it answered for, and each register or bit timeline becomes a
// point of kind generic whose updates are the values the server reported,
// at their capture time (only changes are kept). Reads and writes of the
// same table and address are one point.
func FromCapture(c *pcapreplay.Capture) (*Replay, []netip.AddrPort, error) {
	rep := &Replay{}
	var servers []netip.AddrPort
	serverIdx := map[netip.AddrPort]int{}
	type pkey struct {
		server netip.AddrPort
		unit   uint8
		table  Table
		addr   uint16
	}
	points := map[pkey]int{}
	start := c.Start()
	for _, k := range c.Keys() {
		tab, ok := TableForFunction(k.Function)
		if !ok {
			continue
		}
		si, ok := serverIdx[k.Server]
		if !ok {
			si = len(servers)
			serverIdx[k.Server] = si
			servers = append(servers, k.Server)
		}
		pk := pkey{k.Server, k.Unit, tab, k.Address}
		pi, ok := points[pk]
		if !ok {
			pi = len(rep.Points)
			points[pk] = pi
			typ := "uint16"
			if tab == Coil || tab == Discrete {
				typ = "bool"
			}
			rep.Points = append(rep.Points, Point{
				Name: fmt.Sprintf("u%d_%s_%d", k.Unit, tab, k.Address), RTU: si, Unit: k.Unit, Table: tab,
				Address: k.Address, Kind: "generic", Type: typ, Scale: 1, Source: k.Server.String(),
			})
		}
		for _, s := range c.Series[k] {
			rep.Updates = append(rep.Updates, Update{At: s.Time.Sub(start), Point: pi, Raw: s.Value})
		}
	}
	if len(rep.Points) == 0 {
		return nil, nil, fmt.Errorf("capture has no answered register reads or writes")
	}
	rep.sort()
	// Keep only changes per point (the first value always).
	last := map[int]uint16{}
	kept := rep.Updates[:0]
	for _, u := range rep.Updates {
		if v, ok := last[u.Point]; ok && v == u.Raw {
			continue
		}
		last[u.Point] = u.Raw
		kept = append(kept, u)
	}
	rep.Updates = kept
	return rep, servers, nil
}
