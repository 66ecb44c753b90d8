//go:build e2e

package vmexporter

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/scadaotel/scadaotel/internal/e2e"
)

// VMServer is a real single-node VictoriaMetrics server (bin/victoria-metrics,
// built from the module version the appliance embeds) on loopback. It is
// exported for the e2e tests of package vmexporter_test.
type VMServer struct {
	Addr, Dir string
	proc      *e2e.Process
}

// StartVMServer starts the server on a free port with its data in dir. It
// deduplicates samples of one series with the same millisecond, as the
// README asks of a server behind this exporter (delivery is at least once).
func StartVMServer(t *testing.T, dir string) *VMServer {
	t.Helper()
	s := &VMServer{Addr: e2e.FreeAddr(t), Dir: dir}
	s.Start(t)
	return s
}

// Start (re)starts the server on the same address and data.
func (s *VMServer) Start(t *testing.T) {
	t.Helper()
	s.proc = e2e.Start(t, "victoria-metrics", e2e.VictoriaMetricsBinary(t), []string{
		"-storageDataPath=" + s.Dir,
		"-httpListenAddr=" + s.Addr,
		"-dedup.minScrapeInterval=1ms",
		"-search.latencyOffset=0s",
		"-retentionPeriod=2d",
		"-loggerLevel=WARN",
		"-memory.allowedBytes=128MiB",
	})
	e2e.WaitHTTP(t, s.proc, "http://"+s.Addr+"/health", 20*time.Second)
}

// Stop stops the server gracefully (SIGTERM).
func (s *VMServer) Stop(t *testing.T) {
	t.Helper()
	if code, _ := s.proc.Stop(t); code != 0 {
		t.Fatalf("victoria-metrics exited with %d", code)
	}
}

// ExportedSeries is one series of /api/v1/export.
type ExportedSeries struct {
	Metric     map[string]string `json:"metric"`
	Values     []float64         `json:"-"`
	RawValues  []json.RawMessage `json:"values"`
	Timestamps []int64           `json:"timestamps"`
}

// Key renders the labels sorted, e.g. `a="1",b="2"`.
func (e ExportedSeries) Key() string {
	ks := make([]string, 0, len(e.Metric))
	for k, v := range e.Metric {
		ks = append(ks, fmt.Sprintf("%s=%q", k, v))
	}
	sort.Strings(ks)
	return strings.Join(ks, ",")
}

// Export returns every series matching match with its raw samples (no
// query-time processing), after asking the server to make recent rows
// searchable.
func (s *VMServer) Export(t *testing.T, match string) ([]ExportedSeries, error) {
	t.Helper()
	if resp, err := http.Get("http://" + s.Addr + "/internal/force_flush"); err == nil {
		resp.Body.Close()
	}
	resp, err := http.Get("http://" + s.Addr + "/api/v1/export?" + url.Values{"match[]": {match}}.Encode())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("export: HTTP %d", resp.StatusCode)
	}
	var out []ExportedSeries
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var e ExportedSeries
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, err
		}
		for _, v := range e.RawValues {
			var f float64
			if string(v) == "null" || json.Unmarshal(v, &f) != nil {
				f = math.NaN() // staleness markers (null) and NaN are not JSON numbers
			}
			e.Values = append(e.Values, f)
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out, sc.Err()
}
