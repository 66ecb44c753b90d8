package rtusim

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// SyntheticConfig generates pressures as a bounded random walk and valves
// that move closed -> travel -> open and back.
type SyntheticConfig struct {
	RTUs           int           `yaml:"rtus"`            // default 1
	Units          []uint8       `yaml:"units"`           // per RTU, default [1]
	Pressures      int           `yaml:"pressures"`       // per unit, default 4
	Valves         int           `yaml:"valves"`          // per unit, default 2
	Interval       time.Duration `yaml:"interval"`        // pressure step, default 500ms
	Min            float64       `yaml:"min"`             // bar, default 20
	Max            float64       `yaml:"max"`             // bar, default 80
	StepBar        float64       `yaml:"step"`            // max change per step, default 0.5
	ValveEvery     time.Duration `yaml:"valve_every"`     // default 10s
	ValveTravel    time.Duration `yaml:"valve_travel"`    // default 2s
	Duration       time.Duration `yaml:"duration"`        // default 1m
	Seed           uint64        `yaml:"seed"`            // default 1
	PressureOffset uint16        `yaml:"pressure_offset"` // first holding register, default 0
	ValveOffset    uint16        `yaml:"valve_offset"`    // first valve register, default 100
}

// Valve states served by synthetic valves.
var ValveStates = map[string]string{"0": "closed", "1": "open", "2": "travel"}

// Synthetic builds a replay from cfg.
func Synthetic(cfg SyntheticConfig) (*Replay, error) {
	if cfg.RTUs <= 0 {
		cfg.RTUs = 1
	}
	if len(cfg.Units) == 0 {
		cfg.Units = []uint8{1}
	}
	if cfg.Pressures == 0 && cfg.Valves == 0 {
		cfg.Pressures, cfg.Valves = 4, 2
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 500 * time.Millisecond
	}
	if cfg.Min == 0 && cfg.Max == 0 {
		cfg.Min, cfg.Max = 20, 80
	}
	if cfg.Max <= cfg.Min {
		return nil, fmt.Errorf("synthetic: max %v must be above min %v", cfg.Max, cfg.Min)
	}
	if cfg.StepBar <= 0 {
		cfg.StepBar = 0.5
	}
	if cfg.ValveEvery <= 0 {
		cfg.ValveEvery = 10 * time.Second
	}
	if cfg.ValveTravel <= 0 || cfg.ValveTravel >= cfg.ValveEvery {
		cfg.ValveTravel = cfg.ValveEvery / 5
	}
	if cfg.Duration <= 0 {
		cfg.Duration = time.Minute
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	if cfg.ValveOffset == 0 {
		cfg.ValveOffset = 100
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5ca0a))
	rep := &Replay{}
	for r := 0; r < cfg.RTUs; r++ {
		for _, u := range cfg.Units {
			for i := 0; i < cfg.Pressures; i++ {
				p := Point{Name: fmt.Sprintf("pressure_%d", i), RTU: r, Unit: u, Table: Holding,
					Address: cfg.PressureOffset + uint16(i), Kind: "pressure", Type: "int16", Scale: 0.01, EngUnit: "bar"}
				idx := len(rep.Points)
				rep.Points = append(rep.Points, p)
				v := cfg.Min + rng.Float64()*(cfg.Max-cfg.Min)
				for at := time.Duration(0); at <= cfg.Duration; at += cfg.Interval {
					v += (rng.Float64()*2 - 1) * cfg.StepBar
					v = min(cfg.Max, max(cfg.Min, v))
					rep.Updates = append(rep.Updates, Update{At: at, Point: idx, Raw: p.Encode(v)})
				}
			}
			for i := 0; i < cfg.Valves; i++ {
				p := Point{Name: fmt.Sprintf("valve_%d", i), RTU: r, Unit: u, Table: Holding,
					Address: cfg.ValveOffset + uint16(i), Kind: "valve", Type: "uint16", Scale: 1, States: ValveStates}
				idx := len(rep.Points)
				rep.Points = append(rep.Points, p)
				state := uint16(rng.IntN(2))
				rep.Updates = append(rep.Updates, Update{At: 0, Point: idx, Raw: state})
				// Stagger valves so that not all move together.
				for at := cfg.ValveEvery + time.Duration(rng.Int64N(int64(cfg.ValveEvery))); at <= cfg.Duration; at += cfg.ValveEvery {
					rep.Updates = append(rep.Updates, Update{At: at, Point: idx, Raw: 2})
					state ^= 1
					rep.Updates = append(rep.Updates, Update{At: at + cfg.ValveTravel, Point: idx, Raw: state})
				}
			}
		}
	}
	rep.sort()
	return rep, nil
}
