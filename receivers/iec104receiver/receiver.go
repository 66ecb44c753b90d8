package iec104receiver

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"
	"go.uber.org/zap"

	"github.com/scadaotel/scadaotel/tenants"
)

type iecReceiver struct {
	cfg    *Config
	link   linkConfig
	next   consumer.Metrics
	tel    *telemetry
	logger *zap.Logger
	dial   dialer

	outs   []*outstation
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newReceiver(set receiver.Settings, cfg *Config, next consumer.Metrics) (*iecReceiver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("iec104 receiver: invalid config: %w", err)
	}
	tel, err := newTelemetry(set.MeterProvider)
	if err != nil {
		return nil, fmt.Errorf("iec104 receiver: cannot create self-metrics: %w", err)
	}
	loc, _ := time.LoadLocation(cfg.TimeZone) // checked by Validate
	r := &iecReceiver{
		cfg: cfg, next: next, tel: tel, logger: set.Logger,
		link: linkConfig{k: cfg.K, w: cfg.W, t1: cfg.T1, t2: cfg.T2, t3: cfg.T3},
	}
	var d net.Dialer
	r.dial = func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	for i := range cfg.Outstations {
		oc := &cfg.Outstations[i]
		o := &outstation{
			r: r, name: oc.Name, station: oc.Station, tenant: oc.Tenant,
			addrs:  []string{hostPort(oc.Endpoint)},
			ctx:    tenants.NewContext(context.Background(), oc.Tenant),
			attrs:  newOutAttrs(oc.Name, oc.Tenant),
			log:    newFaultLog(cfg.LogInterval),
			points: map[uint64]*point{},
			params: cfg.params(),
			loc:    loc,
		}
		if oc.BackupEndpoint != "" {
			o.addrs = append(o.addrs, hostPort(oc.BackupEndpoint))
		}
		for _, pc := range cfg.outstationPoints(oc) {
			p := compilePoint(pc, uint16(oc.CommonAddress))
			o.points[pointKey(p.ca, p.ioa)] = p
			o.list = append(o.list, p)
		}
		o.cas = interrogatedCAs(o.list, uint16(oc.CommonAddress), cfg.Discovery)
		r.outs = append(r.outs, o)
	}
	return r, nil
}

func compilePoint(pc PointConfig, defCA uint16) *point {
	p := &point{
		name: pc.Name, kind: pc.Kind, unit: pc.Unit, ioa: uint32(pc.IOA),
		ca: cmp.Or(uint16(pc.CommonAddress), defCA), scale: cmp.Or(pc.Scale, 1), offset: pc.Offset,
	}
	if p.kind == KindValve {
		p.states = maps.Clone(defaultValveStates)
		if len(pc.States) > 0 {
			p.states = maps.Clone(pc.States)
		}
		for _, k := range dpiStates {
			if st, ok := p.states[k]; ok && !slices.Contains(p.statusList, st) {
				p.statusList = append(p.statusList, st)
			}
		}
		slices.Sort(p.statusList)
	}
	return p
}

// Start starts one goroutine per outstation.
func (r *iecReceiver) Start(context.Context, component.Host) error {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	for _, o := range r.outs {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			o.run(ctx)
		}()
	}
	return nil
}

// Shutdown closes the links, waits for the outstations' goroutines and
// tries once more to deliver what the next consumer refused.
func (r *iecReceiver) Shutdown(context.Context) error {
	if r.cancel != nil {
		r.cancel()
	}
	r.wg.Wait()
	for _, o := range r.outs {
		o.flush()
	}
	return nil
}
