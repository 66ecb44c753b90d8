package rtusim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/scadaotel/scadaotel/testbench/pcapreplay"
)

// Config describes a set of simulated RTUs and what drives them. It is the
// `rtus` section of a scenario and the file `rtu --config` reads.
type Config struct {
	Listen      string           `yaml:"listen"`      // host, default 127.0.0.1
	BasePort    int              `yaml:"base_port"`   // 0: free ports; else RTU i listens on base_port+i
	Tenant      string           `yaml:"tenant"`      // tenant in the emitted receiver config
	Station     string           `yaml:"station"`     // RTU name prefix, default "station"
	Strict      bool             `yaml:"strict"`      // unset registers are an illegal data address
	Compression float64          `yaml:"compression"` // source seconds per wall second, default 1
	Timeout     time.Duration    `yaml:"timeout"`     // receiver timeout in the emitted config, default 1s
	Source      SourceConfig     `yaml:"source"`
	Faults      []ScheduledFault `yaml:"faults"`
}

// SourceConfig selects the replay source.
type SourceConfig struct {
	Kind      string          `yaml:"kind"` // csv, pcap or synthetic
	CSV       CSVConfig       `yaml:"csv"`
	Pcap      PcapConfig      `yaml:"pcap"`
	Synthetic SyntheticConfig `yaml:"synthetic"`
}

// PcapConfig replays the register timeline of a Modbus capture.
type PcapConfig struct {
	File string `yaml:"file"`
	Port uint16 `yaml:"port"` // Modbus server port in the capture, default 502
}

// ScheduledFault applies a fault to one RTU at a time into the run.
type ScheduledFault struct {
	RTU   int           `yaml:"rtu"` // RTU index
	At    time.Duration `yaml:"at"`  // wall time since the start of the run
	For   time.Duration `yaml:"for"` // 0: until the end
	Fault `yaml:",inline"`
}

// Sim is a running set of RTUs with their replay.
type Sim struct {
	Config  Config
	RTUs    []*RTU
	Replay  *Replay
	Player  *Player
	Capture *pcapreplay.Capture // pcap sources only
	Started time.Time

	mu       sync.Mutex
	faultLog []FaultEvent
}

// FaultEvent records when a scheduled fault started or ended.
type FaultEvent struct {
	RTU   string    `json:"rtu"`
	Mode  FaultMode `json:"mode"`
	At    time.Time `json:"at"`
	Ended bool      `json:"ended"`
}

// New builds the replay and the (not yet started) RTUs. Relative file paths
// in cfg are taken relative to baseDir.
func New(cfg Config, baseDir string) (*Sim, error) {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1"
	}
	if cfg.Station == "" {
		cfg.Station = "station"
	}
	if cfg.Tenant == "" {
		cfg.Tenant = "testbench"
	}
	if cfg.Compression <= 0 {
		cfg.Compression = 1
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Second
	}
	s := &Sim{Config: cfg}
	nRTU := 0
	var err error
	switch cfg.Source.Kind {
	case "csv":
		c := cfg.Source.CSV
		c.File = resolve(baseDir, c.File)
		if s.Replay, err = LoadCSV(c); err != nil {
			return nil, err
		}
		for _, p := range s.Replay.Points {
			nRTU = max(nRTU, p.RTU+1)
		}
	case "pcap":
		file := resolve(baseDir, cfg.Source.Pcap.File)
		if s.Capture, err = pcapreplay.ReadFile(file, pcapreplay.Options{Port: cfg.Source.Pcap.Port}); err != nil {
			return nil, fmt.Errorf("source.pcap.file: %w", err)
		}
		var servers []netip.AddrPort
		if s.Replay, servers, err = FromCapture(s.Capture); err != nil {
			return nil, fmt.Errorf("source.pcap.file %s: %w", file, err)
		}
		nRTU = len(servers)
	case "synthetic":
		if s.Replay, err = Synthetic(cfg.Source.Synthetic); err != nil {
			return nil, err
		}
		nRTU = max(1, cfg.Source.Synthetic.RTUs)
	default:
		return nil, fmt.Errorf("source.kind: %q must be csv, pcap or synthetic", cfg.Source.Kind)
	}
	for i := 0; i < nRTU; i++ {
		var units []uint8
		for _, p := range s.Replay.Points {
			if p.RTU == i && !slices.Contains(units, p.Unit) {
				units = append(units, p.Unit)
			}
		}
		slices.Sort(units)
		port := 0
		if cfg.BasePort > 0 {
			port = cfg.BasePort + i
		}
		addr := net.JoinHostPort(cfg.Listen, strconv.Itoa(port))
		s.RTUs = append(s.RTUs, NewRTU(fmt.Sprintf("%s-%02d", cfg.Station, i+1), addr, units, NewBank(cfg.Strict)))
	}
	for i, f := range cfg.Faults {
		if f.RTU < 0 || f.RTU >= len(s.RTUs) {
			return nil, fmt.Errorf("faults[%d].rtu: index %d out of range (have %d RTUs)", i, f.RTU, len(s.RTUs))
		}
		if err := f.Fault.Validate(); err != nil {
			return nil, fmt.Errorf("faults[%d]: %w", i, err)
		}
	}
	s.Player = &Player{Replay: s.Replay, RTUs: s.RTUs, Compression: cfg.Compression}
	return s, s.Player.Validate()
}

// Start opens every RTU's port and applies the replay's first values, so
// that a poller never sees an unset register.
func (s *Sim) Start() error {
	for _, r := range s.RTUs {
		if err := r.Start(); err != nil {
			s.Stop()
			return err
		}
	}
	seen := map[int]bool{}
	for _, u := range s.Replay.Updates {
		if !seen[u.Point] {
			seen[u.Point] = true
			p := &s.Replay.Points[u.Point]
			s.RTUs[p.RTU].Bank.Set(p.Unit, p.Table, p.Address, u.Raw)
		}
	}
	return nil
}

// Run plays the replay and the fault schedule; it returns when the replay
// has ended or ctx is done (not an error).
func (s *Sim) Run(ctx context.Context) error {
	s.Started = time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for _, f := range s.Config.Faults {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.runFault(ctx, f)
		}()
	}
	err := s.Player.Run(ctx)
	cancel()
	wg.Wait()
	// The run window ending (cancel or deadline) is a normal end.
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}

func (s *Sim) runFault(ctx context.Context, f ScheduledFault) {
	r := s.RTUs[f.RTU]
	t := time.NewTimer(f.At)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return
	case <-t.C:
	}
	_ = r.SetFault(f.Fault)
	s.logFault(FaultEvent{RTU: r.Name, Mode: f.Mode, At: time.Now()})
	if f.For <= 0 {
		return
	}
	t.Reset(f.For)
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	_ = r.SetFault(Fault{})
	s.logFault(FaultEvent{RTU: r.Name, Mode: f.Mode, At: time.Now(), Ended: true})
}

func (s *Sim) logFault(e FaultEvent) {
	s.mu.Lock()
	s.faultLog = append(s.faultLog, e)
	s.mu.Unlock()
}

// FaultLog returns the fault events so far.
func (s *Sim) FaultLog() []FaultEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.faultLog)
}

// Stop closes every RTU.
func (s *Sim) Stop() {
	for _, r := range s.RTUs {
		r.Stop()
	}
}

// Receiver config emitted by ScadaConfig; keys follow
// receivers/scadareceiver/config.go.
type scadaPoint struct {
	Name     string            `yaml:"name"`
	Kind     string            `yaml:"kind"`
	Register string            `yaml:"register"`
	Address  int               `yaml:"address"`
	Type     string            `yaml:"type"`
	Scale    float64           `yaml:"scale,omitempty"`
	Offset   float64           `yaml:"offset,omitempty"`
	Unit     string            `yaml:"unit,omitempty"`
	States   map[string]string `yaml:"states,omitempty"`
}

type scadaRTU struct {
	Name     string        `yaml:"name"`
	Endpoint string        `yaml:"endpoint,omitempty"`
	Gateway  string        `yaml:"gateway,omitempty"`
	UnitID   int           `yaml:"unit_id"`
	Tenant   string        `yaml:"tenant"`
	Station  string        `yaml:"station"`
	Timeout  time.Duration `yaml:"timeout"`
	Points   []scadaPoint  `yaml:"points"`
}

type scadaGateway struct {
	Name     string        `yaml:"name"`
	Endpoint string        `yaml:"endpoint"`
	Timeout  time.Duration `yaml:"timeout"`
}

// ScadaConfig is the `scada` receiver config that polls these RTUs (call it
// after Start, when the ports are known). An RTU serving several unit ids is
// a gateway.
type ScadaConfig struct {
	Gateways []scadaGateway `yaml:"gateways,omitempty"`
	RTUs     []scadaRTU     `yaml:"rtus"`
}

// ReceiverName is the RTU name the emitted receiver config uses for a unit
// of an RTU; the receiver reports samples under it.
func (s *Sim) ReceiverName(rtu int, unit uint8) string {
	r := s.RTUs[rtu]
	if len(r.Units) > 1 {
		return fmt.Sprintf("%s-u%d", r.Name, unit)
	}
	return r.Name
}

// ScadaConfig builds the receiver config.
func (s *Sim) ScadaConfig() ScadaConfig {
	var out ScadaConfig
	for i, r := range s.RTUs {
		gw := ""
		if len(r.Units) > 1 {
			gw = r.Name
			out.Gateways = append(out.Gateways, scadaGateway{Name: gw, Endpoint: r.Endpoint(), Timeout: s.Config.Timeout})
		}
		for _, u := range r.Units {
			// Each unit is its own station, so that its series are
			// told apart downstream.
			sr := scadaRTU{Name: s.ReceiverName(i, u), Gateway: gw, UnitID: int(u), Tenant: s.Config.Tenant,
				Station: s.ReceiverName(i, u), Timeout: s.Config.Timeout}
			if gw == "" {
				sr.Endpoint = r.Endpoint()
			}
			for _, p := range s.Replay.Points {
				if p.RTU != i || p.Unit != u {
					continue
				}
				sp := scadaPoint{Name: p.Name, Kind: p.Kind, Register: p.Table.String(), Address: int(p.Address),
					Type: p.Type, Unit: p.EngUnit, States: p.States}
				if p.Kind != "valve" {
					sp.Scale, sp.Offset = p.Scale, p.Offset
				}
				sr.Points = append(sr.Points, sp)
			}
			out.RTUs = append(out.RTUs, sr)
		}
	}
	return out
}

// ReceiverYAML renders `receivers: {scada: ...}`.
func (s *Sim) ReceiverYAML() (string, error) {
	b, err := yaml.Marshal(map[string]any{"receivers": map[string]any{"scada": s.ScadaConfig()}})
	return string(b), err
}

func resolve(baseDir, path string) string {
	if path == "" || filepath.IsAbs(path) || baseDir == "" {
		return path
	}
	return filepath.Join(baseDir, path)
}
