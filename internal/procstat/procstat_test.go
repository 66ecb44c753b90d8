package procstat

import (
	"os"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// The command name may hold spaces and parentheses.
	s := "1234 (my (odd) cmd) S 1 2 3 4 5 6 7 8 9 10 250 150 0 0 20 0 1 0"
	got, err := parseStatCPU(s)
	if err != nil || got != 4 {
		t.Errorf("parseStatCPU = %v, %v; want 4", got, err)
	}
	if _, err := parseStatCPU("no paren"); err == nil {
		t.Error("want an error for a line without ')'")
	}
	if _, err := parseStatCPU("1 (x) S 1 2"); err == nil {
		t.Error("want an error for a short line")
	}
}

func TestParseStatusRSS(t *testing.T) {
	got, err := parseStatusRSS("Name:\tx\nVmRSS:\t   2048 kB\n", 1)
	if err != nil || got != 2 {
		t.Errorf("parseStatusRSS = %v, %v; want 2", got, err)
	}
	if _, err := parseStatusRSS("Name:\tx\n", 1); err == nil {
		t.Error("want an error without VmRSS")
	}
}

func TestSamplerOwnProcess(t *testing.T) {
	s := Start(os.Getpid(), time.Millisecond)
	end := time.Now().Add(20 * time.Millisecond)
	for time.Now().Before(end) { // burn some CPU
	}
	u := s.Stop()
	if u.PeakRSSMiB <= 0 || u.LastRSSMiB <= 0 || u.WallSeconds <= 0 || u.CPUSeconds < 0 {
		t.Errorf("usage %+v", u)
	}
	if p := (Usage{CPUSeconds: 1, WallSeconds: 2}).CPUPercent(); p != 50 {
		t.Errorf("CPUPercent = %v", p)
	}
}
