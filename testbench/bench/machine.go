package bench

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// ReadLoad returns the 1, 5 and 15-minute load averages from /proc/loadavg.
func ReadLoad() ([3]float64, error) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return [3]float64{}, err
	}
	return ParseLoadavg(string(b))
}

// ParseLoadavg parses the text of /proc/loadavg.
func ParseLoadavg(s string) ([3]float64, error) {
	var l [3]float64
	f := strings.Fields(s)
	if len(f) < 3 {
		return l, fmt.Errorf("/proc/loadavg: unexpected %q", s)
	}
	for i := range 3 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return l, fmt.Errorf("/proc/loadavg: field %d: %w", i+1, err)
		}
		l[i] = v
	}
	return l, nil
}

// ReadMachine describes this machine (load averages are filled by the caller).
func ReadMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), CPUModel: "unknown"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "MemTotal:") {
				if f := strings.Fields(l); len(f) >= 2 {
					kb, _ := strconv.ParseFloat(f[1], 64)
					m.MemTotalMB = kb / 1024
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}
