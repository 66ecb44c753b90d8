// Package iec104sim runs simulated IEC 60870-5-104 outstations on
// 127.0.0.1 for the testbench (`scadaotel-testbench iec104`): points from a
// synthetic profile or from a capture's values, spontaneous changes,
// interrogation replies (internal/iec104/outstation), and faults switched
// on by flags or through a small HTTP control endpoint.
package iec104sim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/scadaotel/scadaotel/internal/iec104"
	"github.com/scadaotel/scadaotel/internal/iec104/iec104pcap"
	"github.com/scadaotel/scadaotel/internal/iec104/outstation"
)

// Config describes the simulated outstations.
type Config struct {
	// Outstations is how many to run (synthetic source).
	Outstations int
	// Points per outstation (synthetic): pressures (M_ME_TF_1), every
	// fifth a valve (M_DP_TB_1).
	Points int
	// Pcap serves the values of a capture's monitoring ASDUs instead.
	Pcap string
	// CSV serves a profile instead (one outstation): a header row, a first
	// column (time) ignored, every other column one short float point
	// (IOA 1000+i); each interval applies the next row.
	CSV string
	// BasePort: outstation i listens on BasePort+i (0: free ports).
	BasePort int
	// Interval between spontaneous changes (per outstation); 0: none.
	Interval time.Duration
	// Changes is how many points change per interval.
	Changes int
	// Tenant is the tenant of the emitted receiver config.
	Tenant string
}

// Outstation is one running simulator.
type Outstation struct {
	Name   string
	Server *outstation.Server
	ln     net.Listener
	// updates replays a capture's changes in order (pcap source).
	updates []outstation.Point
	next    int
	// rows are a CSV profile's rows of points, applied one per interval.
	rows  [][]outstation.Point
	names map[uint32]string
}

// Addr is where the outstation listens.
func (o *Outstation) Addr() string { return o.ln.Addr().String() }

// Sim is a set of running outstations.
type Sim struct {
	Config      Config
	Outstations []*Outstation
	wg          sync.WaitGroup
	mu          sync.Mutex
	step        int
}

// New builds the outstations and opens their listeners.
func New(cfg Config) (*Sim, error) {
	if cfg.Changes <= 0 {
		cfg.Changes = 1
	}
	s := &Sim{Config: cfg}
	var sets [][]outstation.Point
	var updates [][]outstation.Point
	var rows [][]outstation.Point
	var names map[uint32]string
	if cfg.CSV != "" {
		var err error
		rows, names, err = fromCSV(cfg.CSV)
		if err != nil {
			return nil, err
		}
		sets, updates = [][]outstation.Point{rows[0]}, [][]outstation.Point{nil}
	} else if cfg.Pcap != "" {
		pts, ups, err := fromCapture(cfg.Pcap)
		if err != nil {
			return nil, err
		}
		sets, updates = [][]outstation.Point{pts}, [][]outstation.Point{ups}
	} else {
		if cfg.Outstations <= 0 || cfg.Points <= 0 {
			return nil, errors.New("synthetic source: outstations and points must be positive")
		}
		for range cfg.Outstations {
			sets = append(sets, synthetic(cfg.Points, 0))
			updates = append(updates, nil)
		}
	}
	for i, pts := range sets {
		addr := "127.0.0.1:0"
		if cfg.BasePort > 0 {
			addr = fmt.Sprintf("127.0.0.1:%d", cfg.BasePort+i)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			s.close()
			return nil, err
		}
		s.Outstations = append(s.Outstations, &Outstation{
			Name: fmt.Sprintf("os-%03d", i+1), Server: outstation.New(pts), ln: ln, updates: updates[i], rows: rows, names: names,
		})
	}
	return s, nil
}

func (s *Sim) close() {
	for _, o := range s.Outstations {
		o.ln.Close()
	}
}

// synthetic returns n points on common address 1: IOA 1000+i, pressures
// in bar around 40 + i/10, every fifth point a valve.
func synthetic(n, step int) []outstation.Point {
	pts := make([]outstation.Point, n)
	now := time.Now()
	for i := range n {
		pts[i] = pointValue(i, step, now)
	}
	return pts
}

func pointValue(i, step int, now time.Time) outstation.Point {
	if i%5 == 4 {
		return outstation.Point{CA: 1, IOA: uint32(1000 + i), Type: iec104.MDpTb1, Value: float64(iec104.DPIOff + (step+i)%2), Time: now}
	}
	v := 40 + float64(i)/10 + math.Sin(float64(step+i)/10)
	return outstation.Point{CA: 1, IOA: uint32(1000 + i), Type: iec104.MMeTf1, Value: math.Round(v*1000) / 1000, Time: now}
}

// fromCapture collects the outstation's points of a capture: their first
// values are the image, their later values the changes to replay.
func fromCapture(path string) ([]outstation.Point, []outstation.Point, error) {
	c, err := iec104pcap.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	seen := map[uint64]bool{}
	var image, changes []outstation.Point
	var objs []iec104.Object
	for _, a := range c.APDUs {
		apdu, err := iec104.Parse(a.Raw)
		if err != nil || apdu.Format != iec104.FormatI || !a.FromServer {
			continue
		}
		asdu, err := iec104.DefaultParams.Decode(apdu.ASDU, objs)
		if err != nil || !isMonitoring(asdu.Type) {
			continue
		}
		objs = asdu.Objects
		for _, o := range asdu.Objects {
			p := outstation.Point{CA: asdu.CommonAddr, IOA: o.IOA, Type: asdu.Type, Value: o.Value, Quality: o.Quality}
			if asdu.Type == iec104.MMeNa1 || asdu.Type == iec104.MMeTd1 {
				p.Value = float64(o.Raw) / 32768
			}
			if o.HasTime {
				if t, ok := o.Time.Time(time.UTC); ok {
					p.Time = t
				}
			}
			k := uint64(p.CA)<<32 | uint64(p.IOA)
			if !seen[k] {
				seen[k] = true
				image = append(image, p)
			} else {
				changes = append(changes, p)
			}
		}
	}
	if len(image) == 0 {
		return nil, nil, fmt.Errorf("%s: no monitoring ASDUs from an outstation", path)
	}
	return image, changes, nil
}

func isMonitoring(t iec104.TypeID) bool {
	switch t {
	case iec104.MSpNa1, iec104.MDpNa1, iec104.MStNa1, iec104.MBoNa1, iec104.MMeNa1, iec104.MMeNb1, iec104.MMeNc1, iec104.MItNa1,
		iec104.MSpTb1, iec104.MDpTb1, iec104.MStTb1, iec104.MBoTb1, iec104.MMeTd1, iec104.MMeTe1, iec104.MMeTf1, iec104.MItTb1:
		return true
	}
	return false
}

// Run serves until ctx ends, sending Changes spontaneous changes per
// outstation every Interval.
func (s *Sim) Run(ctx context.Context) error {
	for _, o := range s.Outstations {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			_ = o.Server.Serve(ctx, o.ln)
		}()
	}
	defer s.wg.Wait()
	if s.Config.Interval <= 0 {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(s.Config.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			s.Tick()
		}
	}
}

// Tick sends one round of spontaneous changes.
func (s *Sim) Tick() {
	s.mu.Lock()
	s.step++
	step := s.step
	s.mu.Unlock()
	now := time.Now()
	for _, o := range s.Outstations {
		if o.rows != nil {
			o.next++
			o.Server.SetMany(o.rows[o.next%len(o.rows)])
			continue
		}
		if o.updates != nil {
			for range s.Config.Changes {
				if len(o.updates) == 0 {
					break
				}
				p := o.updates[o.next%len(o.updates)]
				o.next++
				p.Time = time.Time{} // sent now
				o.Server.Set(p)
			}
			continue
		}
		n := len(o.Server.Points())
		for c := range s.Config.Changes {
			i := (step*s.Config.Changes + c) % n
			o.Server.Set(pointValue(i, step, now))
		}
	}
}

// ReceiverYAML is an iec104 receiver config for the running outstations.
func (s *Sim) ReceiverYAML() string {
	var b strings.Builder
	b.WriteString("iec104:\n  outstations:\n")
	tenant := s.Config.Tenant
	if tenant == "" {
		tenant = "testbench"
	}
	for _, o := range s.Outstations {
		pts := o.Server.Points()
		cas := []uint16{}
		for _, p := range pts {
			if !slices.Contains(cas, p.CA) {
				cas = append(cas, p.CA)
			}
		}
		fmt.Fprintf(&b, "    - name: %s\n      endpoint: tcp://%s\n      tenant: %s\n      station: %s\n      common_address: %d\n      points:\n",
			o.Name, o.Addr(), tenant, o.Name, cas[0])
		for _, p := range pts {
			kind := "generic"
			switch p.Type {
			case iec104.MMeNa1, iec104.MMeNb1, iec104.MMeNc1, iec104.MMeTd1, iec104.MMeTe1, iec104.MMeTf1:
				kind = "pressure"
			case iec104.MDpNa1, iec104.MDpTb1:
				kind = "valve"
			}
			name := fmt.Sprintf("p_%d_%d", p.CA, p.IOA)
			if n, ok := o.names[p.IOA]; ok {
				name = n
			}
			fmt.Fprintf(&b, "        - {name: %s, kind: %s, common_address: %d, ioa: %d}\n", name, kind, p.CA, p.IOA)
		}
	}
	return b.String()
}
