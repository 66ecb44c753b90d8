// Package rtusim simulates RTUs: Modbus TCP servers on loopback whose
// registers follow a replay source (a CSV profile, a pcap timeline or a
// synthetic generator), with injectable faults.
package rtusim

import (
	"fmt"
	"sync"
)

// Table is one of the four Modbus data tables.
type Table uint8

// The Modbus data tables.
const (
	Coil Table = iota
	Discrete
	Holding
	Input
)

var tableNames = [...]string{"coil", "discrete", "holding", "input"}

func (t Table) String() string {
	if int(t) < len(tableNames) {
		return tableNames[t]
	}
	return fmt.Sprintf("table(%d)", t)
}

// ParseTable parses coil, discrete, holding or input.
func ParseTable(s string) (Table, error) {
	for i, n := range tableNames {
		if n == s {
			return Table(i), nil
		}
	}
	return 0, fmt.Errorf("register table %q must be coil, discrete, holding or input", s)
}

// TableForFunction maps a Modbus function code to the table it reads or
// writes.
func TableForFunction(fc uint8) (Table, bool) {
	switch fc {
	case 1, 5, 15:
		return Coil, true
	case 2:
		return Discrete, true
	case 3, 6, 16:
		return Holding, true
	case 4:
		return Input, true
	}
	return 0, false
}

type cell struct {
	unit  uint8
	table Table
	addr  uint16
}

// Bank holds the values an RTU serves, per unit and table. Unset cells read
// as 0 unless the bank is strict, in which case reading them is an illegal
// data address.
type Bank struct {
	mu     sync.RWMutex
	strict bool
	cells  map[cell]uint16
}

// NewBank returns an empty bank.
func NewBank(strict bool) *Bank { return &Bank{strict: strict, cells: map[cell]uint16{}} }

// Set stores a value.
func (b *Bank) Set(unit uint8, t Table, addr, v uint16) {
	b.mu.Lock()
	b.cells[cell{unit, t, addr}] = v
	b.mu.Unlock()
}

// Get returns a value and whether it was set.
func (b *Bank) Get(unit uint8, t Table, addr uint16) (uint16, bool) {
	b.mu.RLock()
	v, ok := b.cells[cell{unit, t, addr}]
	b.mu.RUnlock()
	return v, ok
}

// read returns n values from addr; ok is false when the bank is strict and a
// cell is unset.
func (b *Bank) read(unit uint8, t Table, addr, n uint16) ([]uint16, bool) {
	out := make([]uint16, n)
	b.mu.RLock()
	defer b.mu.RUnlock()
	for i := range out {
		v, ok := b.cells[cell{unit, t, addr + uint16(i)}]
		if !ok && b.strict {
			return nil, false
		}
		out[i] = v
	}
	return out, true
}
