package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/scadaotel/scadaotel/testbench/broker"
)

// Options configure a bench run.
type Options struct {
	// Appliance, VictoriaMetrics, Telegraf are the binaries.
	Appliance, VictoriaMetrics, Telegraf string
	// Runs per side and pair (>= 3 for published figures).
	Runs int
	// Warmup and Window are the lengths of the warm-up and of each measurement window.
	Warmup, Window time.Duration
	// Pairs to run: "traces", "metrics", "polling", "alarms".
	Pairs []string
	// Batadal is the BATADAL CSV (metrics profile).
	Batadal string
	// WorkDir holds the processes' data and logs.
	WorkDir string
	// TelegrafNote says why Telegraf is missing, when it is.
	TelegrafNote string
	// PollPeer is "telegraf" (default; falls back to "plain" when the
	// binary is missing) or "plain" (the modbus library's client loop).
	PollPeer string
	// Log receives progress lines.
	Log io.Writer
}

func (o *Options) logf(format string, args ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, "%s "+format+"\n", append([]any{time.Now().UTC().Format("15:04:05")}, args...)...)
	}
}

// Env is what the pairs share: the span sink and the Kafka broker.
type Env struct {
	Dir   string
	Sink  *SpanSink
	Kafka string
}

// Run runs the selected pairs one after the other and returns the results
// (Machine.LoadBefore, Publishable and Warning are the caller's).
func Run(ctx context.Context, o *Options) (*Results, error) {
	r := &Results{Started: time.Now().UTC(), Runs: o.Runs, Machine: ReadMachine()}
	if out, err := exec.Command("git", "describe", "--always", "--dirty").Output(); err == nil {
		r.Commit = strings.TrimSpace(string(out))
	}
	if err := os.MkdirAll(o.WorkDir, 0o755); err != nil {
		return nil, err
	}
	sink, err := StartSpanSink()
	if err != nil {
		return nil, fmt.Errorf("span sink: %w", err)
	}
	defer sink.Close()
	b, err := broker.Start(0, broker.DefaultTopic, "scada.alert-spans")
	if err != nil {
		return nil, err
	}
	defer b.Close()
	env := &Env{Dir: o.WorkDir, Sink: sink, Kafka: b.Addr}
	for _, name := range o.Pairs {
		if ctx.Err() != nil {
			break
		}
		o.logf("pair %s", name)
		switch name {
		case "traces":
			r.Pairs = append(r.Pairs, RunTraces(ctx, o, env)...)
		case "metrics":
			r.Pairs = append(r.Pairs, RunMetrics(ctx, o, env))
		case "polling":
			r.Pairs = append(r.Pairs, RunPolling(ctx, o, env))
		case "alarms":
			r.Pairs = append(r.Pairs, RunAlarmCost(ctx, o, env))
		default:
			return nil, fmt.Errorf("unknown pair %q (traces, metrics, polling, alarms)", name)
		}
	}
	r.Finished = time.Now().UTC()
	r.Seconds = r.Finished.Sub(r.Started).Seconds()
	if l, err := ReadLoad(); err == nil {
		r.Machine.LoadAfter = l
	}
	return r, ctx.Err()
}

// FindRoot walks up from the working directory to the directory holding go.mod.
func FindRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		p := filepath.Dir(d)
		if p == d {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		d = p
	}
}
