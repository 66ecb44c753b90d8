package rtusim

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// CSVColumn maps one CSV column to a point.
type CSVColumn struct {
	Column   string            `yaml:"column"`
	Name     string            `yaml:"name"` // point name, default the column name
	RTU      int               `yaml:"rtu"`  // index of the RTU serving it
	Unit     uint8             `yaml:"unit"` // unit id, default 1
	Table    string            `yaml:"table"`
	Address  uint16            `yaml:"address"`
	Kind     string            `yaml:"kind"` // pressure, valve or generic
	Type     string            `yaml:"type"` // uint16 (default), int16 or bool
	Scale    float64           `yaml:"scale"`
	Offset   float64           `yaml:"offset"`
	EngUnit  string            `yaml:"unit_name"`
	States   map[string]string `yaml:"states"`
	Constant bool              `yaml:"-"`
}

// CSVConfig replays a CSV profile: one row per Step of source time.
type CSVConfig struct {
	File    string        `yaml:"file"`
	Step    time.Duration `yaml:"step"`     // source time between rows (default 1h)
	MaxRows int           `yaml:"max_rows"` // 0: all
	Columns []CSVColumn   `yaml:"columns"`
}

// LoadCSV reads a CSV profile into a replay. Every column's first row is an
// update; later rows are updates only where the raw value changes.
func LoadCSV(cfg CSVConfig) (*Replay, error) {
	if cfg.File == "" {
		return nil, errors.New("csv.file: required")
	}
	f, err := os.Open(cfg.File)
	if err != nil {
		return nil, fmt.Errorf("csv.file: %w", err)
	}
	defer f.Close()
	return ReadCSV(f, cfg)
}

// ReadCSV is LoadCSV on an open reader.
func ReadCSV(r io.Reader, cfg CSVConfig) (*Replay, error) {
	if cfg.Step <= 0 {
		cfg.Step = time.Hour
	}
	if len(cfg.Columns) == 0 {
		return nil, errors.New("csv.columns: at least one column mapping is required")
	}
	cr := csv.NewReader(r)
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("csv %s: cannot read header: %w", cfg.File, err)
	}
	index := map[string]int{}
	for i, h := range header {
		index[strings.TrimSpace(h)] = i
	}
	rep := &Replay{}
	cols := make([]int, len(cfg.Columns))
	for i, c := range cfg.Columns {
		idx, ok := index[c.Column]
		if !ok {
			return nil, fmt.Errorf("csv.columns[%d]: column %q not in %s", i, c.Column, cfg.File)
		}
		cols[i] = idx
		tab := Holding
		if c.Table != "" {
			if tab, err = ParseTable(c.Table); err != nil {
				return nil, fmt.Errorf("csv.columns[%d].table: %w", i, err)
			}
		}
		p := Point{Name: c.Name, RTU: c.RTU, Unit: c.Unit, Table: tab, Address: c.Address, Kind: c.Kind,
			Type: c.Type, Scale: c.Scale, Offset: c.Offset, EngUnit: c.EngUnit, States: c.States, Source: c.Column}
		if p.Name == "" {
			p.Name = strings.ToLower(c.Column)
		}
		if p.Unit == 0 {
			p.Unit = 1
		}
		if p.Kind == "" {
			p.Kind = "generic"
		}
		if p.Type == "" {
			p.Type = "uint16"
			if tab == Coil || tab == Discrete {
				p.Type = "bool"
			}
		}
		if p.Scale == 0 {
			p.Scale = 1
		}
		rep.Points = append(rep.Points, p)
	}
	last := make([]int32, len(cols))
	for i := range last {
		last[i] = -1
	}
	for row := 0; cfg.MaxRows == 0 || row < cfg.MaxRows; row++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("csv %s: row %d: %w", cfg.File, row+2, err)
		}
		for i, idx := range cols {
			if idx >= len(rec) {
				return nil, fmt.Errorf("csv %s: row %d has no column %q", cfg.File, row+2, cfg.Columns[i].Column)
			}
			v, err := strconv.ParseFloat(strings.TrimSpace(rec[idx]), 64)
			if err != nil {
				return nil, fmt.Errorf("csv %s: row %d column %q: %w", cfg.File, row+2, cfg.Columns[i].Column, err)
			}
			raw := rep.Points[i].Encode(v)
			if int32(raw) != last[i] {
				last[i] = int32(raw)
				rep.Updates = append(rep.Updates, Update{At: time.Duration(row) * cfg.Step, Point: i, Raw: raw})
			}
		}
	}
	if len(rep.Updates) == 0 {
		return nil, fmt.Errorf("csv %s: no data rows", cfg.File)
	}
	return rep, nil
}
