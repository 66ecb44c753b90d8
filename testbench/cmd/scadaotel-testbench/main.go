// Command scadaotel-testbench replays RTU traffic against the scadaotel
// appliance and checks the result. Subcommands:
//
//	rtu       simulated RTUs (Modbus TCP servers on 127.0.0.1) driven by a replay source
//	iec104    simulated IEC 60870-5-104 outstations on 127.0.0.1 (synthetic, CSV or capture values, faults)
//	pcap      print the register timeline reconstructed from a Modbus capture
//	kafka     a Kafka-protocol broker on loopback (kfake)
//	consume   an alert consumer (sarama consumer group) printing and recording alerts
//	traffic   OTLP traces across rtu-gateway -> dispatch-service -> mq-bridge -> legacy-batch
//	run       run a scenario file against the real appliance and write reports
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/scadaotel/scadaotel/testbench/alertconsumer"
	"github.com/scadaotel/scadaotel/testbench/broker"
	"github.com/scadaotel/scadaotel/testbench/iec104sim"
	"github.com/scadaotel/scadaotel/testbench/pcapreplay"
	"github.com/scadaotel/scadaotel/testbench/rtusim"
	"github.com/scadaotel/scadaotel/testbench/scenario"
	"github.com/scadaotel/scadaotel/testbench/traffic"
)

const usage = `usage: scadaotel-testbench <command> [flags]

commands:
  rtu       simulated RTUs on 127.0.0.1 (--config FILE or --source synthetic|csv|pcap ...; --emit-config)
  iec104    simulated IEC 104 outstations on 127.0.0.1 (--outstations N --points N | --pcap FILE | --csv FILE; --emit-config; --control ADDR)
  pcap      print the register timeline of a Modbus capture
  kafka     Kafka-protocol broker on loopback (--port)
  consume   consume and record alert records (--brokers, --topic, --out)
  traffic   send OTLP traces for tenants (--config FILE or --endpoint/--tenant)
  run       run a scenario (--scenario FILE [--out DIR])

Run 'scadaotel-testbench <command> -h' for the flags of a command.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	args := os.Args[2:]
	switch os.Args[1] {
	case "rtu":
		err = cmdRTU(ctx, args)
	case "iec104":
		err = cmdIEC104(ctx, args)
	case "pcap":
		err = cmdPcap(args)
	case "kafka":
		err = cmdKafka(ctx, args)
	case "consume":
		err = cmdConsume(ctx, args)
	case "traffic":
		err = cmdTraffic(ctx, args)
	case "run":
		err = cmdRun(ctx, args)
	case "-h", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	var exit exitError
	if errors.As(err, &exit) {
		fmt.Fprintln(os.Stderr, exit.msg)
		os.Exit(exit.code)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "scadaotel-testbench:", err)
		os.Exit(1)
	}
}

type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
}

func loadYAML(path string, into any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(b, into); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func cmdRTU(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("rtu", flag.ContinueOnError)
	cfgFile := fs.String("config", "", "rtusim config file (YAML; see testbench/README.md)")
	source := fs.String("source", "synthetic", "replay source without --config: synthetic, csv or pcap")
	file := fs.String("file", "", "CSV or pcap file for --source csv|pcap")
	columns := fs.String("columns", "", "csv: comma-separated column=kind:address[:scale] mappings, e.g. P_J280=pressure:0:0.01")
	count := fs.Int("count", 1, "synthetic: number of RTUs")
	units := fs.String("units", "1", "synthetic: comma-separated unit ids per RTU")
	compression := fs.Float64("compression", 1, "source seconds per wall second (60 = one hour per minute)")
	duration := fs.Duration("duration", 0, "stop after this long (0: end of the replay, synthetic: 1h)")
	basePort := fs.Int("base-port", 0, "RTU i listens on base-port+i (0: free ports)")
	tenant := fs.String("tenant", "testbench", "tenant in the emitted receiver config")
	emit := fs.Bool("emit-config", false, "print the matching scada receiver config once the RTUs listen")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var cfg rtusim.Config
	baseDir := ""
	if *cfgFile != "" {
		if err := loadYAML(*cfgFile, &cfg); err != nil {
			return err
		}
		baseDir = filepath.Dir(*cfgFile)
	} else {
		cfg = rtusim.Config{Compression: *compression, BasePort: *basePort, Tenant: *tenant, Source: rtusim.SourceConfig{Kind: *source}}
		switch *source {
		case "synthetic":
			var us []uint8
			for _, u := range strings.Split(*units, ",") {
				var n uint8
				if _, err := fmt.Sscan(strings.TrimSpace(u), &n); err != nil {
					return fmt.Errorf("--units: %q: %w", u, err)
				}
				us = append(us, n)
			}
			d := *duration
			if d == 0 {
				d = time.Hour
			}
			cfg.Source.Synthetic = rtusim.SyntheticConfig{RTUs: *count, Units: us, Duration: time.Duration(float64(d) * *compression)}
		case "pcap":
			cfg.Source.Pcap = rtusim.PcapConfig{File: *file}
		case "csv":
			cols, err := parseColumns(*columns)
			if err != nil {
				return err
			}
			cfg.Source.CSV = rtusim.CSVConfig{File: *file, Columns: cols}
		}
	}
	sim, err := rtusim.New(cfg, baseDir)
	if err != nil {
		return err
	}
	if err := sim.Start(); err != nil {
		return err
	}
	defer sim.Stop()
	for _, r := range sim.RTUs {
		logf("rtu %s listening on %s, units %v", r.Name, r.Endpoint(), r.Units)
	}
	if *emit {
		y, err := sim.ReceiverYAML()
		if err != nil {
			return err
		}
		fmt.Print(y)
	}
	logf("replaying %d updates of %d points (%v of source time at %gx)", len(sim.Replay.Updates), len(sim.Replay.Points),
		sim.Replay.Duration(), sim.Config.Compression)
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	sim.Player.Progress = func(applied, total int) { logf("replay: %d/%d updates applied", applied, total) }
	if err := sim.Run(ctx); err != nil {
		return err
	}
	logf("replay finished; %d requests served", totalRequests(sim))
	return nil
}

func cmdIEC104(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("iec104", flag.ContinueOnError)
	outstations := fs.Int("outstations", 1, "synthetic: number of outstations")
	points := fs.Int("points", 20, "synthetic: points per outstation (pressures, every fifth a valve), common address 1, IOA 1000+i")
	pcap := fs.String("pcap", "", "serve the monitoring values of this IEC 104 capture instead (one outstation)")
	csvFile := fs.String("csv", "", "serve a CSV profile instead (one outstation): header, a time column, one float point per column; a row per interval")
	basePort := fs.Int("base-port", 0, "outstation i listens on base-port+i (0: free ports)")
	interval := fs.Duration("interval", time.Second, "spontaneous changes every interval (0: none)")
	changes := fs.Int("changes", 1, "points changed per interval and outstation")
	tenant := fs.String("tenant", "testbench", "tenant in the emitted receiver config")
	emit := fs.Bool("emit-config", false, "print the matching iec104 receiver config once the outstations listen")
	control := fs.String("control", "", "address of the HTTP control endpoint (/set, /drop, /fault, /burst, /stats; see testbench/README.md)")
	faults := fs.String("faults", "", "faults on from the start, comma-separated: no_testfr, no_startdt, wrong_seq, malformed, ignore_k, silent")
	dropEvery := fs.Duration("drop-every", 0, "close every outstation's connections at this interval (0: never)")
	duration := fs.Duration("duration", 0, "stop after this long (0: until interrupted)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *pcap != "" && *csvFile != "" {
		return errors.New("iec104: --pcap and --csv are exclusive")
	}
	sim, err := iec104sim.New(iec104sim.Config{Outstations: *outstations, Points: *points, Pcap: *pcap, CSV: *csvFile, BasePort: *basePort,
		Interval: *interval, Changes: *changes, Tenant: *tenant})
	if err != nil {
		return err
	}
	for _, f := range strings.Split(*faults, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		for _, o := range sim.Outstations {
			if err := o.SetFault(f, true); err != nil {
				return fmt.Errorf("--faults: %w", err)
			}
		}
	}
	for _, o := range sim.Outstations {
		logf("iec104 outstation %s listening on %s, %d points", o.Name, o.Addr(), len(o.Server.Points()))
	}
	if *control != "" {
		ln, err := net.Listen("tcp", *control)
		if err != nil {
			return fmt.Errorf("--control: %w", err)
		}
		srv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		logf("control endpoint on http://%s", ln.Addr())
	}
	if *emit {
		fmt.Print(sim.ReceiverYAML())
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	if *dropEvery > 0 {
		go func() {
			t := time.NewTicker(*dropEvery)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					for _, o := range sim.Outstations {
						o.Server.DropLinks()
					}
				}
			}
		}()
	}
	return sim.Run(ctx)
}

func totalRequests(sim *rtusim.Sim) int64 {
	var n int64
	for _, r := range sim.RTUs {
		n += r.Requests()
	}
	return n
}

// parseColumns reads column=kind:address[:scale] lists.
func parseColumns(s string) ([]rtusim.CSVColumn, error) {
	if s == "" {
		return nil, errors.New("--columns: required for --source csv (e.g. P_J280=pressure:0:0.01,S_V2=valve:10)")
	}
	var out []rtusim.CSVColumn
	for _, item := range strings.Split(s, ",") {
		name, spec, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("--columns: %q must be column=kind:address[:scale]", item)
		}
		parts := strings.Split(spec, ":")
		if len(parts) < 2 {
			return nil, fmt.Errorf("--columns: %q must be column=kind:address[:scale]", item)
		}
		c := rtusim.CSVColumn{Column: name, Kind: parts[0], Type: "int16"}
		if _, err := fmt.Sscan(parts[1], &c.Address); err != nil {
			return nil, fmt.Errorf("--columns: %q: address: %w", item, err)
		}
		if len(parts) > 2 {
			if _, err := fmt.Sscan(parts[2], &c.Scale); err != nil {
				return nil, fmt.Errorf("--columns: %q: scale: %w", item, err)
			}
		}
		if c.Kind == "valve" {
			c.Type = "uint16"
			c.States = map[string]string{"0": "closed", "1": "open"}
		}
		out = append(out, c)
	}
	return out, nil
}

func cmdPcap(args []string) error {
	fs := flag.NewFlagSet("pcap", flag.ContinueOnError)
	port := fs.Uint("port", 502, "Modbus server port")
	asJSON := fs.Bool("json", false, "print the timeline as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: scadaotel-testbench pcap [--port N] [--json] FILE")
	}
	c, err := pcapreplay.ReadFile(fs.Arg(0), pcapreplay.Options{Port: uint16(*port)})
	if err != nil {
		return err
	}
	if *asJSON {
		type series struct {
			Server   string              `json:"server"`
			Unit     uint8               `json:"unit"`
			Function uint8               `json:"function"`
			Address  uint16              `json:"address"`
			Samples  []pcapreplay.Sample `json:"samples"`
		}
		var out struct {
			Stats  pcapreplay.Stats `json:"stats"`
			Series []series         `json:"series"`
		}
		out.Stats = c.Stats
		for _, k := range c.Keys() {
			out.Series = append(out.Series, series{k.Server.String(), k.Unit, k.Function, k.Address, c.Series[k]})
		}
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", " ")
		return enc.Encode(out)
	}
	fmt.Printf("%+v\n", c.Stats)
	fmt.Println("server\tunit\tfunction\taddress\tsamples\tfirst\tlast\tdistinct")
	for _, k := range c.Keys() {
		s := c.Series[k]
		distinct := map[uint16]bool{}
		for _, x := range s {
			distinct[x.Value] = true
		}
		fmt.Printf("%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", k.Server, k.Unit, k.Function, k.Address, len(s), s[0].Value, s[len(s)-1].Value, len(distinct))
	}
	return nil
}

func cmdKafka(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("kafka", flag.ContinueOnError)
	port := fs.Int("port", 9092, "port on 127.0.0.1 (0: free port)")
	topic := fs.String("topic", broker.DefaultTopic, "topic to create")
	if err := fs.Parse(args); err != nil {
		return err
	}
	b, err := broker.Start(*port, *topic)
	if err != nil {
		return err
	}
	defer b.Close()
	logf("kafka: loopback Kafka-protocol broker (kfake, in memory, not durable) on %s, topic %s; Ctrl-C stops it", b.Addr, *topic)
	fmt.Println(b.Addr)
	<-ctx.Done()
	return nil
}

func cmdConsume(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("consume", flag.ContinueOnError)
	brokers := fs.String("brokers", "127.0.0.1:9092", "comma-separated bootstrap brokers")
	topic := fs.String("topic", broker.DefaultTopic, "alert topic")
	group := fs.String("group", "scadaotel-testbench", "consumer group")
	out := fs.String("out", "alerts.jsonl", "JSON lines file the records are appended to (empty: none)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var w io.Writer
	if *out != "" {
		f, err := os.OpenFile(*out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	c := alertconsumer.New(alertconsumer.Config{Brokers: strings.Split(*brokers, ","), Topic: *topic, Group: *group, Out: w, Print: os.Stdout})
	logf("consume: group %s on %s topic %s, recording to %s", *group, *brokers, *topic, *out)
	return c.Run(ctx)
}

func cmdTraffic(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("traffic", flag.ContinueOnError)
	cfgFile := fs.String("config", "", "traffic config file (YAML)")
	endpoint := fs.String("endpoint", "http://127.0.0.1:4318", "appliance OTLP/HTTP base URL")
	tenant := fs.String("tenant", "west-pipeline-01", "tenant id (without --config)")
	token := fs.String("token", "", "bearer token (without --config)")
	rate := fs.Float64("rate", 10, "requests per second (without --config)")
	baseline := fs.Float64("baseline", 0.01, "baseline error rate (without --config)")
	duration := fs.Duration("duration", 30*time.Second, "how long to send")
	truth := fs.String("truth", "truth.json", "ground truth file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var cfg traffic.Config
	if *cfgFile != "" {
		if err := loadYAML(*cfgFile, &cfg); err != nil {
			return err
		}
	} else {
		cfg.Tenants = []traffic.TenantConfig{{ID: *tenant, Token: *token, Rate: *rate, Baseline: *baseline}}
	}
	if cfg.Endpoint == "" {
		cfg.Endpoint = *endpoint
	}
	if cfg.Duration == 0 {
		cfg.Duration = *duration
	}
	if cfg.TruthFile == "" {
		cfg.TruthFile = *truth
	}
	res, err := traffic.Run(ctx, cfg, func(msg string) { logf("%s", msg) })
	if err != nil {
		return err
	}
	for id, t := range res.Tenants {
		logf("%s: %d requests, %d spans, %d error spans, %d rejected batches", id, t.Requests, t.Spans, t.ErrorSpans, t.Rejected)
	}
	logf("ground truth written to %s", cfg.TruthFile)
	if res.SendError != "" {
		return errors.New(res.SendError)
	}
	return nil
}

func cmdRun(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	file := fs.String("scenario", "", "scenario file")
	out := fs.String("out", "", "report directory (default testbench-reports/<scenario>-<time>)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *file == "" {
		return errors.New("run: --scenario FILE is required")
	}
	s, err := scenario.Load(*file)
	if err != nil {
		return err
	}
	bin := func(env, name string) (string, error) {
		if p := os.Getenv(env); p != "" {
			return p, nil
		}
		p := filepath.Join(s.Root, "bin", name)
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s not found: set $%s or run `make build` (looked for %s)", name, env, p)
		}
		return p, nil
	}
	app, err := bin("SCADAOTEL_BIN", "scadaotel")
	if err != nil {
		return err
	}
	jaeger := ""
	if s.Jaeger.Enabled {
		if jaeger, err = bin("JAEGER_BIN", "jaeger"); err != nil {
			return err
		}
	}
	if *out == "" {
		*out = filepath.Join("testbench-reports", fmt.Sprintf("%s-%s", strings.TrimSuffix(filepath.Base(*file), ".yaml"), time.Now().UTC().Format("20060102T150405Z")))
	}
	logf("run: scenario %s, appliance %s, reports in %s", s.Name, app, *out)
	rep, err := scenario.Run(ctx, s, scenario.Options{Appliance: app, Jaeger: jaeger, OutDir: *out, Log: os.Stderr})
	if err != nil {
		return err
	}
	if err := rep.Write(); err != nil {
		return err
	}
	fmt.Print(rep.Markdown())
	if rep.Failed() {
		return exitError{code: 1, msg: "scenario failed; report in " + filepath.Join(*out, "report.md")}
	}
	return nil
}
