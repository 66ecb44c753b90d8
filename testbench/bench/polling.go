package bench

import (
	"context"
	"fmt"
	"io"
	"log"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/simonvetter/modbus"
)

const (
	pollRTUs     = 500
	pollPoints   = 20
	pollInterval = time.Second
)

// simRTU is one simulated RTU: a Modbus TCP server (simonvetter/modbus) on
// loopback with pollPoints holding registers, recording when each request
// arrived and how many registers it read.
type simRTU struct {
	server   *modbus.ModbusServer
	endpoint string
	regs     atomic.Int64 // registers served in the window
	reqs     atomic.Int64
	mu       sync.Mutex
	arrivals []time.Time
	idx      int
}

func (r *simRTU) HandleCoils(*modbus.CoilsRequest) ([]bool, error) {
	return nil, modbus.ErrIllegalFunction
}
func (r *simRTU) HandleDiscreteInputs(*modbus.DiscreteInputsRequest) ([]bool, error) {
	return nil, modbus.ErrIllegalFunction
}
func (r *simRTU) HandleInputRegisters(*modbus.InputRegistersRequest) ([]uint16, error) {
	return nil, modbus.ErrIllegalFunction
}

func (r *simRTU) HandleHoldingRegisters(req *modbus.HoldingRegistersRequest) ([]uint16, error) {
	now := time.Now()
	if req.IsWrite {
		return nil, modbus.ErrIllegalFunction
	}
	if int(req.Addr)+int(req.Quantity) > pollPoints {
		return nil, modbus.ErrIllegalDataAddress
	}
	r.mu.Lock()
	r.arrivals = append(r.arrivals, now)
	r.mu.Unlock()
	r.regs.Add(int64(req.Quantity))
	r.reqs.Add(1)
	out := make([]uint16, req.Quantity)
	sec := uint16(now.Unix())
	for i := range out {
		out[i] = uint16(r.idx*7+int(req.Addr)+i) + sec
	}
	return out, nil
}

func (r *simRTU) reset() {
	r.mu.Lock()
	r.arrivals = r.arrivals[:0]
	r.mu.Unlock()
	r.regs.Store(0)
	r.reqs.Store(0)
}

type rtuFarm []*simRTU

func startFarm(n int) (rtuFarm, error) {
	var f rtuFarm
	for i := range n {
		addr, err := FreeAddr()
		if err != nil {
			f.stop()
			return nil, err
		}
		r := &simRTU{endpoint: "tcp://" + addr, idx: i}
		s, err := modbus.NewServer(&modbus.ServerConfiguration{URL: r.endpoint, Timeout: 30 * time.Second, MaxClients: 8,
			Logger: log.New(io.Discard, "", 0)}, r)
		if err == nil {
			err = s.Start()
		}
		if err != nil {
			f.stop()
			return nil, fmt.Errorf("RTU %d on %s: %w", i, addr, err)
		}
		r.server = s
		f = append(f, r)
	}
	return f, nil
}

func (f rtuFarm) stop() {
	for _, r := range f {
		_ = r.server.Stop()
	}
}

func (f rtuFarm) reset() {
	for _, r := range f {
		r.reset()
	}
}

// stats: registers served and the p99 poll jitter over the window: for each
// RTU, the deviation of the time between consecutive polls from the interval.
func (f rtuFarm) stats() (regs, reqs int64, jitterP99 float64, polled int) {
	var dev []float64
	for _, r := range f {
		regs += r.regs.Load()
		reqs += r.reqs.Load()
		r.mu.Lock()
		var polls []time.Time
		for _, t := range r.arrivals {
			// Requests less than a third of an interval apart belong to one poll.
			if len(polls) == 0 || t.Sub(polls[len(polls)-1]) > pollInterval/3 {
				polls = append(polls, t)
			}
		}
		r.mu.Unlock()
		if len(polls) > 0 {
			polled++
		}
		for i := 1; i < len(polls); i++ {
			dev = append(dev, math.Abs(float64(polls[i].Sub(polls[i-1])-pollInterval))/float64(time.Millisecond))
		}
	}
	return regs, reqs, percentile(dev, 99), polled
}

func scadaPollConfig(f rtuFarm, health, metricsPort string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `# The appliance's scada receiver polling %d RTUs x %d holding registers every %v.
extensions:
  healthcheckv2:
    use_v2: true
    http:
      endpoint: %s
receivers:
  scada:
    poll_groups:
      generic: %v
    point_sets:
      regs:
`, len(f), pollPoints, pollInterval, health, pollInterval)
	for i := range pollPoints {
		fmt.Fprintf(&b, "        - {name: r%02d, kind: generic, register: holding, address: %d, type: uint16}\n", i, i)
	}
	b.WriteString("    rtus:\n")
	for i, r := range f {
		fmt.Fprintf(&b, "      - {name: rtu-%03d, endpoint: %q, unit_id: 1, tenant: %s, station: st-%03d, timeout: 1s, point_sets: [regs]}\n", i, r.endpoint, BenchTenant, i)
	}
	fmt.Fprintf(&b, `exporters:
  # Like Telegraf's outputs.discard: the samples are counted and dropped
  # (log lines sampled down to about one per second).
  debug:
    verbosity: basic
    sampling_initial: 1
    sampling_thereafter: 1000000
service:
  extensions: [healthcheckv2]
%s  pipelines:
    metrics:
      receivers: [scada]
      exporters: [debug]
`, telemetryYAML(metricsPort))
	return b.String()
}

func telegrafConfig(f rtuFarm) string {
	var b strings.Builder
	fmt.Fprintf(&b, `# Telegraf inputs.modbus polling %d RTUs x %d holding registers every %v, to outputs.discard.
[agent]
  interval = "%v"
  round_interval = true
  collection_jitter = "0s"
  flush_interval = "1s"
  flush_jitter = "0s"
  metric_batch_size = 1000
  metric_buffer_limit = 100000
  omit_hostname = true
  quiet = true

[[outputs.discard]]
`, len(f), pollPoints, pollInterval, pollInterval)
	for i, r := range f {
		fmt.Fprintf(&b, "\n[[inputs.modbus]]\n  name = \"rtu-%03d\"\n  slave_id = 1\n  timeout = \"1s\"\n  controller = %q\n  holding_registers = [\n", i, r.endpoint)
		for j := range pollPoints {
			fmt.Fprintf(&b, "    { name = \"r%02d\", byte_order = \"AB\", data_type = \"UINT16\", scale = 1.0, address = [%d] },\n", j, j)
		}
		b.WriteString("  ]\n  [inputs.modbus.tags]\n    station = \"st-" + fmt.Sprintf("%03d", i) + "\"\n")
	}
	return b.String()
}

type pollRun struct {
	cpuPerK, rss, jitter float64
	samples, reqs        int64
	polled               int
}

func failedPollRun() pollRun {
	n := math.NaN()
	return pollRun{cpuPerK: n, rss: n, jitter: n}
}

func measurePolling(ctx context.Context, o *Options, f rtuFarm, pid int) (pollRun, error) {
	r := failedPollRun()
	select { // first connections and the first ticks
	case <-time.After(o.Warmup):
	case <-ctx.Done():
		return r, ctx.Err()
	}
	f.reset()
	m := StartMeter(pid)
	select {
	case <-time.After(o.Window):
	case <-ctx.Done():
		return r, ctx.Err()
	}
	u := m.Stop()
	regs, reqs, jit, polled := f.stats()
	r.samples, r.reqs, r.polled, r.jitter, r.rss = regs, reqs, polled, jit, u.PeakRSSMiB
	if regs == 0 {
		return r, fmt.Errorf("no register was read in the window")
	}
	r.cpuPerK = 1000 * u.CPUSeconds / (float64(regs) / 1000) // CPU ms per 1,000 samples
	return r, nil
}

// RunPolling is the RTU polling pair.
func RunPolling(ctx context.Context, o *Options, env *Env) Pair {
	start := time.Now()
	p := Pair{
		Name:      "polling",
		Appliance: "bin/scadaotel: scada receiver (one scheduler per poll group, contiguous registers merged into one read) → debug exporter (sampled logging)",
		Peer:      "Telegraf v1.37.2 inputs.modbus (one plugin instance per RTU, register style) → outputs.discard, built with `go install -tags custom,inputs.modbus,outputs.discard`",
		Input:     fmt.Sprintf("%d simulated RTUs (Modbus TCP servers on 127.0.0.1, simonvetter/modbus, in the bench process) x %d holding registers, polled every %v", pollRTUs, pollPoints, pollInterval),
		Method: []string{
			fmt.Sprintf("per run, per side: a fresh poller; %v to connect and warm up, then a %v window", o.Warmup, o.Window),
			"samples = registers served by the RTUs in the window (counted at the RTUs, so both sides are counted the same way); CPU ms per 1,000 samples from /proc/<pid>/stat",
			"poll jitter: per RTU, |time between consecutive polls - interval| at the RTU; p99 over all RTUs",
			"the simulated RTUs run in the bench process on the same cores as the poller",
		},
	}
	plain := o.PollPeer == "plain"
	if _, err := os.Stat(o.Telegraf); err != nil && !plain {
		why := o.TelegrafNote
		if why == "" {
			why = err.Error()
		}
		plain = true
		p.Notes = append(p.Notes, "Telegraf is not available ("+why+"): the peer is the modbus library's plain client loop instead, as issue 10 allows")
	}
	if plain {
		p.Peer = "the modbus library's plain client loop (simonvetter/modbus v1.6.4; one goroutine and ticker per RTU, one read of the 20 registers per poll, values discarded), as `scadaotel-bench plain-poller` (Telegraf not used)"
	}
	farm, err := startFarm(pollRTUs)
	if err != nil {
		p.Errors = append(p.Errors, err.Error())
		p.Figures = pollFigures(nil, nil)
		return p
	}
	defer farm.stop()
	var aRuns, pRuns []pollRun
	for i := range o.Runs {
		for _, side := range []string{"appliance", "peer"} {
			if ctx.Err() != nil {
				p.Errors = append(p.Errors, ctx.Err().Error())
				break
			}
			o.logf("polling run %d/%d: %s", i+1, o.Runs, side)
			dir := filepath.Join(env.Dir, fmt.Sprintf("polling-%s-%d", side, i+1))
			r, err := pollingSide(ctx, o, farm, side, dir, plain)
			if err != nil {
				p.Errors = append(p.Errors, fmt.Sprintf("run %d %s: %v", i+1, side, err))
			}
			expected := int64(float64(pollRTUs*pollPoints) * o.Window.Seconds() / pollInterval.Seconds())
			o.logf("  %s: %d samples (%d requests, %d of %d RTUs polled; ~%d expected), CPU %.2f ms per 1,000 samples, RSS %.0f MiB, p99 jitter %.1f ms",
				side, r.samples, r.reqs, r.polled, pollRTUs, expected, r.cpuPerK, r.rss, r.jitter)
			p.Notes = append(p.Notes, fmt.Sprintf("run %d %s: %d samples in %d requests over %v (%d expected at one poll per RTU per interval), %d of %d RTUs polled",
				i+1, side, r.samples, r.reqs, o.Window, expected, r.polled, pollRTUs))
			if side == "appliance" {
				aRuns = append(aRuns, r)
			} else {
				pRuns = append(pRuns, r)
			}
		}
	}
	p.Figures = pollFigures(aRuns, pRuns)
	p.Seconds = time.Since(start).Seconds()
	return p
}

func pollingSide(ctx context.Context, o *Options, farm rtuFarm, side, dir string, plain bool) (pollRun, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return failedPollRun(), err
	}
	var proc *Proc
	if side == "appliance" {
		health, err := FreeAddr()
		if err != nil {
			return failedPollRun(), err
		}
		mport, err := FreeAddr()
		if err != nil {
			return failedPollRun(), err
		}
		if proc, err = StartCollectorConfig(ctx, "appliance-scada", o.Appliance, dir, scadaPollConfig(farm, health, portOf(mport)), health); err != nil {
			return failedPollRun(), err
		}
	} else if plain {
		self, err := os.Executable()
		if err != nil {
			return failedPollRun(), err
		}
		args := []string{"plain-poller", "--points", fmt.Sprint(pollPoints), "--interval", pollInterval.String()}
		for _, r := range farm {
			args = append(args, r.endpoint)
		}
		if proc, err = StartProc("plain-poller", self, args, nil, filepath.Join(dir, "plain-poller.log")); err != nil {
			return failedPollRun(), err
		}
	} else {
		cfg := filepath.Join(dir, "telegraf.conf")
		if err := os.WriteFile(cfg, []byte(telegrafConfig(farm)), 0o644); err != nil {
			return failedPollRun(), err
		}
		var err error
		if proc, err = StartProc("telegraf", o.Telegraf, []string{"--config", cfg}, nil, filepath.Join(dir, "telegraf.log")); err != nil {
			return failedPollRun(), err
		}
	}
	r, err := measurePolling(ctx, o, farm, proc.Pid())
	if proc.Exited() && err == nil {
		err = fmt.Errorf("%s exited during the run; log tail:\n%s", proc.Name, proc.Tail(1500))
	}
	proc.Stop(15 * time.Second)
	return r, err
}

func pollFigures(a, p []pollRun) []Figure {
	col := func(rs []pollRun, f func(pollRun) float64) []float64 {
		out := make([]float64, len(rs))
		for i, r := range rs {
			out[i] = f(r)
		}
		return out
	}
	fig := func(name, unit string, f func(pollRun) float64, g *Goal) Figure {
		return NewFigure(name, unit, col(a, f), col(p, f), g)
	}
	return []Figure{
		fig("CPU per 1,000 samples", "CPU ms", func(r pollRun) float64 { return r.cpuPerK }, &Goal{Op: "<=", Bound: 0.5, Text: "<= 0.50"}),
		fig("peak RSS", "MiB", func(r pollRun) float64 { return r.rss }, &Goal{Op: "<=", Bound: 1, Text: "<= 1.00"}),
		fig("p99 poll jitter", "ms", func(r pollRun) float64 { return r.jitter }, nil),
	}
}

// PlainPoller is the fallback polling peer when Telegraf cannot be built:
// the modbus library's plain client loop, one goroutine and
// ticker per RTU, each poll one read of the RTU's registers, the values
// discarded. It runs as `scadaotel-bench plain-poller ENDPOINT...` so its CPU
// and RSS are its own process's.
func PlainPoller(ctx context.Context, endpoints []string, points int, interval time.Duration) error {
	var wg sync.WaitGroup
	for _, ep := range endpoints {
		c, err := modbus.NewClient(&modbus.ClientConfiguration{URL: ep, Timeout: time.Second})
		if err != nil {
			return fmt.Errorf("%s: %w", ep, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			open := false
			t := time.NewTicker(interval)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					if open {
						_ = c.Close()
					}
					return
				case <-t.C:
				}
				if !open {
					if c.Open() != nil {
						continue
					}
					open = true
				}
				if _, err := c.ReadRegisters(0, uint16(points), modbus.HOLDING_REGISTER); err != nil {
					_ = c.Close()
					open = false
				}
			}
		}()
	}
	wg.Wait()
	return nil
}
