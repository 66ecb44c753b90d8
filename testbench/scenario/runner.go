package scenario

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/simonvetter/modbus"
	"gopkg.in/yaml.v3"

	"github.com/scadaotel/scadaotel/tenants"
	"github.com/scadaotel/scadaotel/testbench/alertconsumer"
	"github.com/scadaotel/scadaotel/testbench/broker"
	"github.com/scadaotel/scadaotel/testbench/rtusim"
	"github.com/scadaotel/scadaotel/testbench/traffic"
)

// Options locate the binaries and the output.
type Options struct {
	Appliance string    // scadaotel binary
	Jaeger    string    // jaeger binary
	OutDir    string    // reports and logs
	Log       io.Writer // progress lines
}

// TemplateData is what an appliance config template sees.
type TemplateData struct {
	DataDir        string
	Health         string // healthcheckv2 endpoint
	OTLPGRPC       string
	OTLPHTTP       string
	JaegerOTLPGRPC string
	JaegerQuery    string
	Kafka          string // broker bootstrap address
	Topic          string
	QueryAddr      string // a free address for the query API
	TraceQueryAddr string // a free address for tenant_trace_query
	MetricsPort    string
	Scada          string // the scada receiver's config body (YAML)
	Tenants        []traffic.TenantConfig
	RTUTenant      string // tenant of the simulated RTUs
	QueryToken     string // bearer token of RTUTenant for the query API
	AlarmsFile     string // the alarm connector's definitions file (alarms.enabled)
	AlarmsTopic    string // where the alarm records go (alarms.topic)
	AlarmsAddr     string // a free address for the alarm operator API
	components     map[string]bool
}

// Has reports whether the appliance binary contains a component type.
func (d TemplateData) Has(name string) bool { return d.components[name] }

// Components lists component types of a binary (`scadaotel components`).
func Components(bin string) (map[string]bool, error) {
	out, err := exec.Command(bin, "components").Output()
	if err != nil {
		return nil, fmt.Errorf("%s components: %w", bin, err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(out, &doc); err != nil {
		return nil, fmt.Errorf("%s components: %w", bin, err)
	}
	have := map[string]bool{}
	for kind, v := range doc {
		list, _ := v.([]any)
		for _, item := range list {
			if m, ok := item.(map[string]any); ok {
				if n, ok := m["name"].(string); ok {
					have[n] = true
					have[kind+"/"+n] = true
				}
			}
		}
	}
	return have, nil
}

// Run runs the scenario and returns its report; the error is for runs that
// could not be carried out at all (a failed check is in the report).
func Run(ctx context.Context, s *Scenario, opt Options) (*Report, error) {
	if opt.Log == nil {
		opt.Log = io.Discard
	}
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	if err := os.MkdirAll(opt.OutDir, 0o755); err != nil {
		return nil, err
	}
	r := &runner{s: s, opt: opt, rep: &Report{Scenario: s.Name, Description: s.Description, Started: time.Now(), OutDir: opt.OutDir}}
	defer r.cleanup()
	built, err := r.checkComponents()
	if err != nil {
		return nil, err
	}
	if !built {
		return r.finish(), nil
	}
	if err := r.allocate(); err != nil {
		return nil, err
	}
	if err := r.startKafka(ctx); err != nil {
		return nil, err
	}
	if err := r.startJaeger(ctx); err != nil {
		return nil, err
	}
	if err := r.startRTUs(); err != nil {
		return nil, err
	}
	r.addTenants()
	if err := r.prepareAlarms(); err != nil {
		return nil, err
	}
	app, healthy, err := r.startAppliance(ctx)
	if err != nil {
		return nil, err
	}
	if !healthy {
		return r.rep, nil
	}
	usage := startUsage(app.Pid())
	r.runLoad(ctx)
	r.checkRTUs(ctx)
	if c := r.alarmCheck(ctx); c.Name != "" {
		r.rep.add(c)
	}
	r.checkTraffic(ctx)
	r.checkIsolation(ctx)
	r.rep.Appliance = usage.stop()
	return r.finish(), nil
}

// runner is one run of a scenario: what Run's steps set up and find.
type runner struct {
	s   *Scenario
	opt Options
	rep *Report

	comps    map[string]bool
	dataDir  string
	d        TemplateData
	cfg      string // the appliance config
	cleanups []func()

	consumer *alertconsumer.Consumer
	alarms   *alertconsumer.Consumer // the alarm topic's (alarms.enabled)
	sim      *rtusim.Sim

	// What the load phase found.
	runStart time.Time
	verifier *rtusim.Verifier
	simErr   error
	qapi     *queryAPI
	qix      *pointIndex
	qver     *rtusim.Verifier
	qerrs    []string
	tres     *traffic.Result
	terr     error
}

func (r *runner) logf(format string, a ...any) {
	fmt.Fprintf(r.opt.Log, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
}

// cleanup stops what the steps started, last first.
func (r *runner) cleanup() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
	r.cleanups = nil
}

func (r *runner) finish() *Report {
	r.rep.Finished = time.Now()
	r.rep.Seconds = r.rep.Finished.Sub(r.rep.Started).Seconds()
	return r.rep
}

// checkComponents lists the appliance's components in the report and
// reports false (with a not_built check) when it lacks one the scenario needs.
func (r *runner) checkComponents() (bool, error) {
	comps, err := Components(r.opt.Appliance)
	if err != nil {
		return false, err
	}
	r.comps = comps
	for c := range comps {
		if strings.Contains(c, "/") {
			r.rep.Components = append(r.rep.Components, c)
		}
	}
	var lacks []string
	for _, c := range r.s.Requires {
		if !comps[c] {
			lacks = append(lacks, c)
		}
	}
	if len(lacks) > 0 {
		r.rep.add(Check{Name: "scenario_components", Status: StatusNotBuilt, Detail: "appliance lacks " + strings.Join(lacks, ", ") + ", which this scenario needs"})
		return false, nil
	}
	return true, nil
}

// allocate makes the data folder and picks the appliance's free addresses.
func (r *runner) allocate() error {
	r.dataDir = filepath.Join(r.opt.OutDir, "data")
	if err := os.MkdirAll(r.dataDir, 0o755); err != nil {
		return err
	}
	r.d = TemplateData{DataDir: r.dataDir, components: r.comps, Topic: r.s.Kafka.Topic}
	var err error
	for _, p := range []*string{&r.d.Health, &r.d.OTLPGRPC, &r.d.OTLPHTTP, &r.d.QueryAddr, &r.d.TraceQueryAddr, &r.d.AlarmsAddr} {
		if *p, err = freeAddr(); err != nil {
			return err
		}
	}
	mp, err := freeAddr()
	if err != nil {
		return err
	}
	r.d.MetricsPort = mp[strings.LastIndex(mp, ":")+1:]
	return nil
}

// startKafka starts the loopback broker and the alert consumer.
func (r *runner) startKafka(ctx context.Context) error {
	s := r.s
	if !s.Kafka.Enabled {
		return nil
	}
	topics := []string{s.Kafka.Topic}
	if s.Alarms.Enabled {
		topics = append(topics, s.Alarms.Topic)
	}
	b, err := broker.Start(s.Kafka.Port, topics...)
	if err != nil {
		return err
	}
	r.cleanups = append(r.cleanups, b.Close)
	r.d.Kafka = b.Addr
	f, err := os.Create(filepath.Join(r.opt.OutDir, "alerts.jsonl"))
	if err != nil {
		return err
	}
	r.cleanups = append(r.cleanups, func() { f.Close() })
	r.consumer = alertconsumer.New(alertconsumer.Config{Brokers: []string{b.Addr}, Topic: s.Kafka.Topic, Out: f, Print: r.opt.Log})
	cctx, ccancel := context.WithCancel(ctx)
	done := make(chan struct{})
	consumer := r.consumer
	go func() { _ = consumer.Run(cctx); close(done) }()
	r.cleanups = append(r.cleanups, func() { ccancel(); <-done })
	r.logf("kafka: loopback broker (kfake) on %s, topic %s", b.Addr, s.Kafka.Topic)
	if s.Alarms.Enabled {
		af, err := os.Create(filepath.Join(r.opt.OutDir, "alarms.jsonl"))
		if err != nil {
			return err
		}
		r.cleanups = append(r.cleanups, func() { af.Close() })
		r.alarms = alertconsumer.New(alertconsumer.Config{Brokers: []string{b.Addr}, Topic: s.Alarms.Topic, Group: "scadaotel-testbench-alarms", Out: af})
		actx, acancel := context.WithCancel(ctx)
		adone := make(chan struct{})
		alarms := r.alarms
		go func() { _ = alarms.Run(actx); close(adone) }()
		r.cleanups = append(r.cleanups, func() { acancel(); <-adone })
		r.d.AlarmsTopic = s.Alarms.Topic
	}
	return nil
}

// prepareAlarms writes the alarm connector's definitions file for the
// scenario's limits (alarms.enabled).
func (r *runner) prepareAlarms() error {
	if !r.s.Alarms.Enabled || r.sim == nil {
		return nil
	}
	r.d.AlarmsFile = filepath.Join(r.dataDir, "alarms.yaml")
	if err := writeAlarmDefinitions(r.d.AlarmsFile, r.d.RTUTenant, r.sim, r.s.Alarms.Limits); err != nil {
		return err
	}
	r.logf("alarms: %d limits in %s, records on %s", len(r.s.Alarms.Limits), r.d.AlarmsFile, r.s.Alarms.Topic)
	return nil
}

// startJaeger starts Jaeger on free addresses and waits until it is healthy.
func (r *runner) startJaeger(ctx context.Context) error {
	s, d := r.s, &r.d
	if !s.Jaeger.Enabled {
		return nil
	}
	var err error
	if d.JaegerOTLPGRPC, err = freeAddr(); err != nil {
		return err
	}
	if d.JaegerQuery, err = freeAddr(); err != nil {
		return err
	}
	env := []string{"SCADAOTEL_DATA_DIR=" + r.dataDir, "JAEGER_OTLP_GRPC_ENDPOINT=" + d.JaegerOTLPGRPC, "JAEGER_QUERY_HTTP_ENDPOINT=" + d.JaegerQuery}
	var health string
	for _, k := range []string{"JAEGER_OTLP_HTTP_ENDPOINT", "JAEGER_QUERY_GRPC_ENDPOINT", "JAEGER_HEALTH_ENDPOINT"} {
		a, err := freeAddr()
		if err != nil {
			return err
		}
		env = append(env, k+"="+a)
		if k == "JAEGER_HEALTH_ENDPOINT" {
			health = a
		}
	}
	jp, err := startProc("jaeger", r.opt.Jaeger, []string{"--config", filepath.Join(s.Root, "tools", "jaeger", "config.yaml")}, env,
		filepath.Join(r.opt.OutDir, "jaeger.log"))
	if err != nil {
		return err
	}
	r.cleanups = append(r.cleanups, func() { jp.Stop(stopGrace) })
	if err := waitHealthy(ctx, jp, "http://"+health+"/status", 60*time.Second); err != nil {
		return err
	}
	r.logf("jaeger: OTLP gRPC %s, query http://%s", d.JaegerOTLPGRPC, d.JaegerQuery)
	return nil
}

// startRTUs starts the simulated RTUs and renders the scada receiver's config.
func (r *runner) startRTUs() error {
	s := r.s
	if s.RTUs == nil {
		return nil
	}
	sim, err := rtusim.New(*s.RTUs, s.Root)
	if err != nil {
		return err
	}
	if err := sim.Start(); err != nil {
		return err
	}
	r.sim = sim
	r.cleanups = append(r.cleanups, sim.Stop)
	sc, err := yaml.Marshal(sim.ScadaConfig())
	if err != nil {
		return err
	}
	r.d.Scada = string(sc)
	r.logf("rtus: %d simulated RTUs, %d points, %d updates over %v of source time", len(sim.RTUs), len(sim.Replay.Points),
		len(sim.Replay.Updates), sim.Replay.Duration())
	return nil
}

// addTenants gives the template the traffic's tenants and the RTUs' tenant
// (with a token for the query API, made up when the traffic has none).
func (r *runner) addTenants() {
	d := &r.d
	if r.s.Traffic != nil {
		d.Tenants = append(d.Tenants, r.s.Traffic.Tenants...)
	}
	if r.sim == nil {
		return
	}
	d.RTUTenant = r.sim.Config.Tenant
	for _, t := range d.Tenants {
		if t.ID == d.RTUTenant {
			d.QueryToken = t.Token
		}
	}
	if d.QueryToken == "" {
		d.QueryToken = randomToken()
		d.Tenants = append(d.Tenants, traffic.TenantConfig{ID: d.RTUTenant, Token: d.QueryToken})
	}
}

// startAppliance renders the appliance config, starts the appliance and adds
// the appliance_healthy check; healthy is false when it never became so.
func (r *runner) startAppliance(ctx context.Context) (app *proc, healthy bool, err error) {
	s, d := r.s, r.d
	tmpl, err := template.New("appliance").Funcs(template.FuncMap{"indent": indent, "sha256": tenants.HashToken}).Parse(s.Appliance.Config)
	if err != nil {
		return nil, false, fmt.Errorf("appliance.config: %w", err)
	}
	var cfg bytes.Buffer
	if err := tmpl.Execute(&cfg, d); err != nil {
		return nil, false, fmt.Errorf("appliance.config: %w", err)
	}
	r.cfg = cfg.String()
	cfgPath := filepath.Join(r.opt.OutDir, "appliance.yaml")
	if err := os.WriteFile(cfgPath, cfg.Bytes(), 0o644); err != nil {
		return nil, false, err
	}
	app, err = startProc("scadaotel", r.opt.Appliance, []string{"--config", cfgPath},
		append([]string{"SCADAOTEL_DATA_DIR=" + r.dataDir}, s.Appliance.Env...), filepath.Join(r.opt.OutDir, "appliance.log"))
	if err != nil {
		return nil, false, err
	}
	rep := r.rep
	r.cleanups = append(r.cleanups, func() { rep.ShutdownSeconds = app.Stop(stopGrace).Seconds() })
	healthErr := waitHealthy(ctx, app, "http://"+d.Health+"/status", 60*time.Second)
	rep.add(Check{Name: "appliance_healthy", Status: statusOf(healthErr == nil), Detail: errDetail(healthErr, "healthy at http://"+d.Health+"/status")})
	if healthErr != nil {
		return app, false, nil
	}
	r.logf("appliance: healthy (config %s)", cfgPath)
	return app, true, nil
}

// runLoad runs the replay, the read-back, the query loop and the traffic
// together and waits for all of them.
func (r *runner) runLoad(ctx context.Context) {
	s, d, sim := r.s, r.d, r.sim
	var wg sync.WaitGroup
	runCtx, runCancel := context.WithCancel(ctx)
	defer runCancel()
	r.runStart = time.Now()
	if sim != nil {
		r.verifier = rtusim.NewVerifier(sim.Replay)
		lastProgress := time.Now()
		sim.Player.Progress = func(applied, total int) {
			if time.Since(lastProgress) >= 10*time.Second {
				lastProgress = time.Now()
				r.logf("replay: %d/%d updates applied", applied, total)
			}
		}
		simCtx, simCancel := context.WithTimeout(runCtx, s.Duration)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer simCancel()
			r.simErr = sim.Run(simCtx)
		}()
		if s.Readback.Enabled {
			wg.Add(1)
			go func() {
				defer wg.Done()
				readback(simCtx, sim, r.verifier)
			}()
		}
		if queryWired(d, r.cfg) {
			r.qapi = &queryAPI{addr: d.QueryAddr, token: d.QueryToken, client: &http.Client{Timeout: 5 * time.Second}}
			r.qix = newPointIndex(sim)
			r.qver = rtusim.NewVerifier(sim.Replay)
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Keep querying a little after the replay so the last
				// changes become visible.
				qctx, qcancel := context.WithTimeout(runCtx, s.Duration+3*time.Second)
				defer qcancel()
				queryLoop(qctx, r.qapi, r.qix, r.qver, &r.qerrs)
			}()
		}
	}
	if s.Traffic != nil {
		tc := *s.Traffic
		tc.Endpoint = "http://" + d.OTLPHTTP
		if tc.Duration == 0 {
			tc.Duration = s.Duration
		}
		tc.TruthFile = filepath.Join(r.opt.OutDir, "truth.json")
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.tres, r.terr = traffic.Run(runCtx, tc, func(msg string) { r.logf("%s", msg) })
		}()
	}
	wg.Wait()
	r.logf("run: replay and traffic finished")
}

// checkRTUs adds the read-back and stored-samples checks.
func (r *runner) checkRTUs(ctx context.Context) {
	s, sim, rep := r.s, r.sim, r.rep
	if sim == nil {
		return
	}
	c := Check{Name: "rtu_readback", Status: StatusNotRun, Detail: "readback disabled in the scenario"}
	if r.simErr != nil {
		c = Check{Name: "rtu_readback", Status: StatusFail, Detail: "replay: " + r.simErr.Error()}
	} else if s.Readback.Enabled {
		res := r.verifier.Result(sim.Player.Applied)
		rep.Readback = &res
		seen := 0.0
		if res.Changes > 0 {
			seen = float64(res.ChangesSeen) / float64(res.Changes)
		}
		ok := res.Reads > 0 && res.Mismatches == 0 && seen >= s.Readback.MinChangesSeen
		c = Check{Name: "rtu_readback", Status: statusOf(ok), Detail: fmt.Sprintf(
			"%d reads of %d points by a plain Modbus client, %d mismatches; %d of %d value changes read while current (need %.0f%%) %s",
			res.Reads, res.Points, res.Mismatches, res.ChangesSeen, res.Changes, 100*s.Readback.MinChangesSeen, res.FirstMismatch),
			Metrics: map[string]any{"reads": res.Reads, "mismatches": res.Mismatches, "changes": res.Changes, "changes_seen": res.ChangesSeen,
				"read_latency_p50_ms": ms(percentile(res.Latencies, 50)), "read_latency_p99_ms": ms(percentile(res.Latencies, 99))}}
	}
	rep.add(c)
	if r.qapi != nil {
		for _, c := range samplesResult(ctx, r.qapi, r.qix, r.qver, sim.Player.Applied, r.runStart, r.runStart.Add(s.Duration),
			s.Checks.MinSamplesRatio, s.Checks.MaxChangeLatencyP99, r.qerrs) {
			rep.add(c)
		}
	} else {
		c := samplesCheck(r.d)
		rep.add(c)
		rep.add(Check{Name: "change_to_query_latency", Status: c.Status, Detail: c.Detail})
	}
}

// checkTraffic adds the traffic, trace, repair and alert checks.
func (r *runner) checkTraffic(ctx context.Context) {
	s, d, rep, tres := r.s, r.d, r.rep, r.tres
	if s.Traffic == nil {
		return
	}
	if r.terr != nil {
		rep.add(Check{Name: "traffic_sent", Status: StatusFail, Detail: r.terr.Error()})
		return
	}
	rep.Traffic = tres
	rep.add(Check{Name: "traffic_sent", Status: statusOf(tres.SendError == ""), Detail: errDetail(errorsNew(tres.SendError),
		fmt.Sprintf("%d requests sent over OTLP/HTTP, all accepted", len(tres.Requests)))})
	if s.Jaeger.Enabled {
		rep.add(tracesCheck(ctx, s, d, tres))
		rep.add(repairCheck(ctx, s, d, r.cfg, tres))
	}
	rep.add(alertCheck(ctx, s, d, r.cfg, r.consumer, tres))
}

// checkIsolation adds the tenant isolation checks (queries, traces, writes).
func (r *runner) checkIsolation(ctx context.Context) {
	s, d, rep := r.s, r.d, r.rep
	if r.qapi != nil {
		rep.add(isolationCheck(ctx, d))
	} else {
		rep.add(Check{Name: "tenant_isolation", Status: StatusNotRun, Detail: "needs the query API wired (scada -> victoriametrics, prometheus_query, tenantauth)"})
	}
	if s.Traffic != nil && s.Jaeger.Enabled && r.terr == nil {
		rep.add(traceIsolationCheck(ctx, s, d, r.cfg, r.tres))
		rep.add(writeIsolationCheck(ctx, s, d, r.cfg))
	}
}

// readback polls every point of every RTU with a plain Modbus client.
func readback(ctx context.Context, sim *rtusim.Sim, v *rtusim.Verifier) {
	clients := make([]*modbus.ModbusClient, len(sim.RTUs))
	for i, r := range sim.RTUs {
		c, err := modbus.NewClient(&modbus.ClientConfiguration{URL: r.Endpoint(), Timeout: time.Second})
		if err != nil || c.Open() != nil {
			continue
		}
		defer c.Close()
		clients[i] = c
	}
	for ctx.Err() == nil {
		for i, p := range sim.Replay.Points {
			c := clients[p.RTU]
			if c == nil || ctx.Err() != nil {
				continue
			}
			_ = c.SetUnitId(p.Unit)
			before := time.Now()
			var raw uint16
			var err error
			switch p.Table {
			case rtusim.Holding:
				raw, err = c.ReadRegister(p.Address, modbus.HOLDING_REGISTER)
			case rtusim.Input:
				raw, err = c.ReadRegister(p.Address, modbus.INPUT_REGISTER)
			case rtusim.Coil:
				var b bool
				b, err = c.ReadCoil(p.Address)
				if b {
					raw = 1
				}
			case rtusim.Discrete:
				var b bool
				b, err = c.ReadDiscreteInput(p.Address)
				if b {
					raw = 1
				}
			}
			if err == nil {
				v.Observe(i, raw, before, time.Now())
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// samplesCheck: samples expected vs stored per point and register-change to
// queryable latency need the scada receiver, the metrics store and the
// query API in the binary.
func samplesCheck(d TemplateData) Check {
	var missing []string
	for _, c := range []string{"scada", "victoriametrics", "prometheus_query"} {
		if !d.Has(c) {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return Check{Name: "samples_stored", Status: StatusNotBuilt, Detail: "appliance lacks " + strings.Join(missing, ", ")}
	}
	return Check{Name: "samples_stored", Status: StatusNotRun, Detail: "the scenario's appliance config does not wire scada -> victoriametrics and prometheus_query"}
}

// queryWired reports whether the rendered config polls the RTUs into the
// metrics store and serves the query API.
func queryWired(d TemplateData, cfg string) bool {
	return d.Has("scada") && d.Has("victoriametrics") && d.Has("prometheus_query") &&
		strings.Contains(cfg, "victoriametrics") && strings.Contains(cfg, "prometheus_query") && strings.Contains(cfg, d.QueryAddr)
}

func randomToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

type jaegerTrace struct {
	Data []struct {
		TraceID string `json:"traceID"`
		Spans   []struct {
			TraceID string `json:"traceID"`
			SpanID  string `json:"spanID"`
		} `json:"spans"`
	} `json:"data"`
}

func getTrace(ctx context.Context, query, id string) (*jaegerTrace, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+query+"/api/traces/"+id, nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, resp.StatusCode, nil
	}
	var t jaegerTrace
	if err := json.NewDecoder(resp.Body).Decode(&t); err != nil {
		return nil, resp.StatusCode, err
	}
	return &t, 200, nil
}

// tracesCheck looks a sample of each tenant's original trace ids up in
// Jaeger, waiting up to trace_wait for the last ones.
func tracesCheck(ctx context.Context, s *Scenario, d TemplateData, tres *traffic.Result) Check {
	want := map[string][]string{}
	for _, r := range tres.Requests {
		if len(want[r.Tenant]) < s.Checks.TraceSample {
			want[r.Tenant] = append(want[r.Tenant], r.Original)
		}
	}
	found := map[string]bool{}
	deadline := time.Now().Add(s.Checks.TraceWait)
	total := 0
	for _, ids := range want {
		total += len(ids)
	}
	for {
		for _, ids := range want {
			for _, id := range ids {
				if found[id] {
					continue
				}
				if t, code, _ := getTrace(ctx, d.JaegerQuery, id); code == 200 && t != nil && len(t.Data) > 0 {
					found[id] = true
				}
			}
		}
		if len(found) == total || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	metrics := map[string]any{}
	var parts []string
	for tenant, ids := range want {
		n := 0
		for _, id := range ids {
			if found[id] {
				n++
			}
		}
		metrics[tenant+"_expected"] = len(ids)
		metrics[tenant+"_stored"] = n
		parts = append(parts, fmt.Sprintf("%s %d/%d", tenant, n, len(ids)))
	}
	ratio := 0.0
	if total > 0 {
		ratio = float64(len(found)) / float64(total)
	}
	return Check{Name: "traces_stored", Status: statusOf(total > 0 && ratio >= s.Checks.MinTraceRatio), Metrics: metrics,
		Detail: fmt.Sprintf("sampled original traces found in Jaeger: %s (need %.0f%%)", strings.Join(parts, ", "), 100*s.Checks.MinTraceRatio)}
}

// repairCheck computes trace-repair precision and recall against the
// ground truth: a legacy span of a damaged, recoverable request is
// recovered when Jaeger returns it under the original trace id; a legacy
// span of another request under that id is a false repair.
func repairCheck(ctx context.Context, s *Scenario, d TemplateData, cfg string, tres *traffic.Result) Check {
	if !d.Has("traceidrepair") {
		return Check{Name: "trace_repair", Status: StatusNotBuilt, Detail: "appliance lacks the traceidrepair processor"}
	}
	if !strings.Contains(cfg, "traceidrepair") {
		return Check{Name: "trace_repair", Status: StatusNotRun, Detail: "the scenario's appliance config does not use traceidrepair"}
	}
	owner := map[string]int{}
	for i, r := range tres.Requests {
		for _, sp := range r.LegacySpans {
			owner[r.Tenant+"/"+sp] = i
		}
	}
	tp, fp, fn := 0, 0, 0
	checked := 0
	perDamage := map[string][2]int{} // damage -> legacy spans found, missed
	for i, r := range tres.Requests {
		if r.Damage == "intact" || r.Damage == "lost" || checked >= 4*s.Checks.TraceSample {
			continue
		}
		checked++
		t, code, _ := getTrace(ctx, d.JaegerQuery, r.Original)
		present := map[string]bool{}
		if code == 200 && t != nil {
			for _, tr := range t.Data {
				for _, sp := range tr.Spans {
					present[sp.SpanID] = true
					if j, ok := owner[r.Tenant+"/"+sp.SpanID]; ok && j != i {
						fp++
					}
				}
			}
		}
		for _, sp := range r.LegacySpans {
			if present[sp] {
				tp++
				perDamage[r.Damage] = [2]int{perDamage[r.Damage][0] + 1, perDamage[r.Damage][1]}
			} else {
				fn++
				perDamage[r.Damage] = [2]int{perDamage[r.Damage][0], perDamage[r.Damage][1] + 1}
			}
		}
	}
	precision, recall := 1.0, 0.0
	if tp+fp > 0 {
		precision = float64(tp) / float64(tp+fp)
	}
	if tp+fn > 0 {
		recall = float64(tp) / float64(tp+fn)
	}
	ok := checked > 0 && precision >= s.Checks.MinRepairPrecision && recall >= s.Checks.MinRepairRecall
	metrics := map[string]any{"precision": precision, "recall": recall,
		"requests_checked": checked, "true_repairs": tp, "false_repairs": fp, "missed": fn}
	var names []string
	for dm := range perDamage {
		names = append(names, dm)
	}
	sort.Strings(names)
	var per []string
	for _, dm := range names {
		c := perDamage[dm]
		metrics["recall_"+dm] = float64(c[0]) / float64(c[0]+c[1])
		per = append(per, fmt.Sprintf("%s %d/%d", dm, c[0], c[0]+c[1]))
	}
	return Check{Name: "trace_repair", Status: statusOf(ok), Metrics: metrics,
		Detail: fmt.Sprintf("precision %.3f (need %.2f), recall %.3f (need %.2f) over %d damaged requests; legacy spans under the original id per damage: %s", precision,
			s.Checks.MinRepairPrecision, recall, s.Checks.MinRepairRecall, checked, strings.Join(per, ", "))}
}

func indent(n int, s string) string {
	pad := strings.Repeat(" ", n)
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = pad + l
		}
	}
	return strings.Join(lines, "\n")
}

type simpleErr string

func (e simpleErr) Error() string { return string(e) }

func errorsNew(s string) error {
	if s == "" {
		return nil
	}
	return simpleErr(s)
}

func errDetail(err error, ok string) string {
	if err != nil {
		return err.Error()
	}
	return ok
}
