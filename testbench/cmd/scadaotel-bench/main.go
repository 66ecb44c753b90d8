// Command scadaotel-bench measures the appliance side by side with the tools
// users would pick instead and writes testbench/bench/results/<date>.md and
// .json. `make bench` runs it through scripts/bench.sh.
//
// It refuses to run when the 1-minute load average is above 0.5 (after
// waiting up to --settle for it to fall): figures from a busy machine are
// noise. --allow-busy runs anyway for development; such results are marked
// NOT publishable, go to <out>/dev/ and never touch the README.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/scadaotel/scadaotel/internal/thirdparty"
	"github.com/scadaotel/scadaotel/testbench/bench"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "plain-poller" {
		os.Exit(plainPoller(os.Args[2:]))
	}
	os.Exit(run())
}

// plainPoller is the fallback polling peer (see bench.PlainPoller).
func plainPoller(args []string) int {
	fs := flag.NewFlagSet("plain-poller", flag.ExitOnError)
	points := fs.Int("points", 20, "holding registers read per poll, from address 0")
	interval := fs.Duration("interval", time.Second, "poll interval")
	_ = fs.Parse(args)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := bench.PlainPoller(ctx, fs.Args(), *points, *interval); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return 1
	}
	return 0
}

func run() int {
	root, err := bench.FindRoot()
	if err != nil {
		root = "."
	}
	var (
		o         bench.Options
		out       = flag.String("out", filepath.Join(root, "testbench", "bench", "results"), "results directory")
		readme    = flag.String("readme", filepath.Join(root, "README.md"), "README whose Performance section gets the latest ratios (publishable runs only; empty: none)")
		allowBusy = flag.Bool("allow-busy", false, "run even when the machine is busy; results are marked NOT publishable (development only)")
		settle    = flag.Duration("settle", 0, "wait up to this long for the 1-minute load average to fall to 0.5 before refusing")
		pairs     = flag.String("pairs", "traces,metrics,polling,alarms", "pairs to run")
		keep      = flag.Bool("keep", false, "keep the work directory (data and logs of every process)")
	)
	flag.StringVar(&o.Appliance, "appliance", filepath.Join(root, "bin", "scadaotel"), "scadaotel binary")
	flag.StringVar(&o.VictoriaMetrics, "victoria-metrics", filepath.Join(root, "bin", "victoria-metrics"), "VictoriaMetrics single-node binary")
	flag.StringVar(&o.Telegraf, "telegraf", filepath.Join(root, "bin", "telegraf"), "Telegraf binary (with inputs.modbus and outputs.discard)")
	flag.StringVar(&o.TelegrafNote, "telegraf-note", "", "why Telegraf is missing (printed in the results)")
	flag.StringVar(&o.PollPeer, "poll-peer", "telegraf", "polling peer: telegraf (falls back to plain when --telegraf is missing) or plain (the modbus library's client loop)")
	flag.StringVar(&o.Batadal, "batadal", thirdparty.BatadalPath(), "BATADAL CSV (default: $"+thirdparty.BatadalEnv+" or ../shared/data/batadal/; none: a synthetic profile of the same shape)")
	flag.IntVar(&o.Runs, "runs", 3, "runs per side and pair (median, min, max)")
	flag.DurationVar(&o.Warmup, "warmup", 3*time.Second, "warm-up before each measurement window")
	flag.DurationVar(&o.Window, "window", 12*time.Second, "measurement window")
	flag.StringVar(&o.WorkDir, "work", "", "work directory (default: a new temporary directory)")
	flag.Parse()
	o.Log = os.Stderr
	o.Pairs = strings.Split(*pairs, ",")

	load, err := bench.ReadLoad()
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return 1
	}
	deadline := time.Now().Add(*settle)
	for !*allowBusy && load[0] > bench.MaxLoad && time.Now().Before(deadline) {
		fmt.Fprintf(os.Stderr, "load average %.2f > %.2f: waiting for the machine to settle (up to %v more)\n", load[0], bench.MaxLoad, time.Until(deadline).Round(time.Second))
		time.Sleep(10 * time.Second)
		if load, err = bench.ReadLoad(); err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
			return 1
		}
	}
	publishable, err := bench.CheckLoad(load[0], bench.MaxLoad, *allowBusy)
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return 1
	}
	if o.Runs < 3 && publishable {
		fmt.Fprintf(os.Stderr, "--runs %d < 3: results marked NOT publishable\n", o.Runs)
		publishable = false
	}
	for _, b := range []string{o.Appliance, o.VictoriaMetrics} {
		if _, err := os.Stat(b); err != nil {
			fmt.Fprintf(os.Stderr, "error: %v (run make build and make victoria-metrics first)\n", err)
			return 1
		}
	}
	if o.WorkDir == "" {
		if o.WorkDir, err = os.MkdirTemp("", "scadaotel-bench-"); err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
			return 1
		}
	}
	if !*keep {
		defer os.RemoveAll(o.WorkDir)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	res, runErr := bench.Run(ctx, &o)
	if res == nil {
		fmt.Fprintln(os.Stderr, "error:", runErr)
		return 1
	}
	res.Machine.LoadBefore = load
	res.Publishable = publishable
	dir := *out
	if !publishable {
		res.Warning = fmt.Sprintf("development run (--allow-busy or --runs < 3) with load average %.2f before it; results are publishable only at a load average <= %.2f with >= 3 runs. Do not quote these figures.", load[0], bench.MaxLoad)
		dir = filepath.Join(*out, "dev")
	}
	md, js, err := res.Write(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "error: writing results:", err)
		return 1
	}
	if b, err := os.ReadFile(md); err == nil {
		os.Stdout.Write(b)
	}
	fmt.Fprintf(os.Stderr, "wrote %s and %s\n", md, js)
	if publishable && *readme != "" {
		rel, err := filepath.Rel(filepath.Dir(*readme), md)
		if err != nil {
			rel = md
		}
		if err := bench.UpdateREADME(*readme, res, rel); err != nil {
			fmt.Fprintln(os.Stderr, "error: README:", err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "updated the Performance section of %s\n", *readme)
	}
	if *keep {
		fmt.Fprintf(os.Stderr, "work directory kept: %s\n", o.WorkDir)
	}
	failed := runErr != nil
	for _, p := range res.Pairs {
		if len(p.Errors) > 0 {
			failed = true
		}
	}
	if ms := res.Misses(); len(ms) > 0 {
		fmt.Fprintf(os.Stderr, "goals missed (reported in the results):\n  %s\n", strings.Join(ms, "\n  "))
	}
	if failed {
		fmt.Fprintln(os.Stderr, "error: some runs failed (see Errors in the results)")
		return 1
	}
	return 0
}
