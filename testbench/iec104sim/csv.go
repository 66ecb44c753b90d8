package iec104sim

import (
	"encoding/csv"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/scadaotel/scadaotel/internal/iec104"
	"github.com/scadaotel/scadaotel/internal/iec104/outstation"
)

// fromCSV reads a profile: the header names the points (first column,
// the time, ignored), each row is one step of every point's value.
func fromCSV(path string) ([][]outstation.Point, map[uint32]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.TrimLeadingSpace = true
	recs, err := r.ReadAll()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(recs) < 2 || len(recs[0]) < 2 {
		return nil, nil, fmt.Errorf("%s: need a header and at least one row of a time and one value column", path)
	}
	names := map[uint32]string{}
	for i, h := range recs[0][1:] {
		names[uint32(1000+i)] = metricName(h, i)
	}
	var rows [][]outstation.Point
	for n, rec := range recs[1:] {
		if len(rec) != len(recs[0]) {
			return nil, nil, fmt.Errorf("%s: row %d has %d columns, the header %d", path, n+2, len(rec), len(recs[0]))
		}
		row := make([]outstation.Point, 0, len(rec)-1)
		for i, v := range rec[1:] {
			x, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: row %d column %q: %w", path, n+2, recs[0][i+1], err)
			}
			row = append(row, outstation.Point{CA: 1, IOA: uint32(1000 + i), Type: iec104.MMeTf1, Value: x})
		}
		rows = append(rows, row)
	}
	return rows, names, nil
}

// metricName makes a CSV header a point name of the receiver.
func metricName(h string, i int) string {
	var b strings.Builder
	for j, r := range strings.TrimSpace(h) {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '_':
			b.WriteRune(r)
		case r >= '0' && r <= '9' && j > 0:
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return fmt.Sprintf("col_%d", i)
	}
	return b.String()
}
