package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/confmap"
)

// endpointCheck rejects malformed listen/dial addresses while the config is
// resolved, so `scadaotel validate` catches them too; the collector itself
// only finds a bad receiver endpoint when it tries to bind it.
type endpointCheck struct{}

func newEndpointCheckFactory() confmap.ConverterFactory {
	return confmap.NewConverterFactory(func(confmap.ConverterSettings) confmap.Converter { return endpointCheck{} })
}

// It also splits comma-separated entries of a `brokers` list: the default
// config can only write ${env:SCADAOTEL_KAFKA_BROKERS} as one list element,
// and "k1:9092,k2:9092" there means two bootstrap brokers.
func (endpointCheck) Convert(_ context.Context, conf *confmap.Conf) error {
	var errs []error
	keys := conf.AllKeys()
	sort.Strings(keys)
	for _, key := range keys {
		if key != "endpoint" && !strings.HasSuffix(key, confmap.KeyDelimiter+"endpoint") {
			continue
		}
		var s string
		switch v := conf.Get(key).(type) {
		case nil:
			continue
		case string:
			s = v
		default:
			// A bare port (SCADAOTEL_QUERY_ENDPOINT=31428) expands to a
			// number: the collector would only refuse it when binding.
			errs = append(errs, fmt.Errorf("%s: %v: want host:port (e.g. 127.0.0.1:%v), got a %T", key, v, v, v))
			continue
		}
		if s == "" {
			continue
		}
		if err := checkEndpoint(s); err != nil {
			errs = append(errs, fmt.Errorf("%s: %q: %w", key, s, err))
		}
	}
	if err := splitBrokers(conf); err != nil {
		errs = append(errs, err)
	}
	if err := applyListenerTLS(conf); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// splitBrokers rewrites every `brokers` list so that an element "a,b" is
// two elements, and checks each broker is host:port.
func splitBrokers(conf *confmap.Conf) error {
	var errs []error
	update := map[string]any{}
	for _, key := range conf.AllKeys() {
		if key != "brokers" && !strings.HasSuffix(key, confmap.KeyDelimiter+"brokers") {
			continue
		}
		list, ok := conf.Get(key).([]any)
		if !ok {
			continue
		}
		var out []any
		changed := false
		for _, el := range list {
			s, ok := el.(string)
			if !ok {
				out = append(out, el)
				continue
			}
			parts := strings.Split(s, ",")
			if len(parts) > 1 {
				changed = true
			}
			for _, p := range parts {
				p = strings.TrimSpace(p)
				if p == "" {
					continue
				}
				if _, port, err := net.SplitHostPort(p); err != nil {
					errs = append(errs, fmt.Errorf("%s: broker %q: want host:port: %w", key, p, err))
				} else if err := checkPort(port); err != nil {
					errs = append(errs, fmt.Errorf("%s: broker %q: %w", key, p, err))
				}
				out = append(out, p)
			}
		}
		if changed {
			update[key] = out
		}
	}
	for key := range update {
		conf.Delete(key) // a merge could append to the old list
	}
	if len(update) > 0 {
		if err := conf.Merge(confmap.NewFromStringMap(update)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// checkEndpoint accepts host:port, a URL with a host (http, https, grpc,
// ...) and unix sockets.
func checkEndpoint(s string) error {
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil {
			return fmt.Errorf("not a valid URL: %w", err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return nil // gRPC resolver targets (dns:///, unix://, passthrough:///)
		}
		if u.Host == "" {
			return errors.New("URL has no host")
		}
		if p := u.Port(); p != "" {
			return checkPort(p)
		}
		if strings.HasSuffix(u.Host, ":") {
			return errors.New("empty port")
		}
		return nil
	}
	if strings.HasPrefix(s, "unix:") {
		return nil
	}
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("want host:port: %w", err)
	}
	return checkPort(port)
}

func checkPort(p string) error {
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q is not a number from 0 to 65535", p)
	}
	return nil
}

// listenerTLSKey is the config's one place for the certificate of every
// listener: a top-level key of scadaotel's own, read and removed here
// before the collector sees the config.
const listenerTLSKey = "listener_tls"

// serverListener is a server the distribution's components open: where in
// a component's config its endpoint and tls keys are.
type serverListener struct {
	kind, typ string   // "receivers", "otlp": every otlp or otlp/<name>
	sections  []string // sub-keys holding endpoint and tls; "" is the component itself
	tls       bool     // the section takes configtls server settings
}

// serverListeners is every listener the distribution's components can open
// (components.go). Each with TLS takes listener_tls unless it has a tls key
// of its own; each is checked for a non-loopback address without TLS.
var serverListeners = []serverListener{
	{"receivers", "otlp", []string{"protocols::grpc", "protocols::http"}, true},
	{"receivers", "prometheus_remote_write", []string{""}, true},
	{"extensions", "prometheus_query", []string{""}, true},
	{"extensions", "tenant_trace_query", []string{""}, true},
	{"extensions", "scada_ui", []string{""}, true},
	{"connectors", "errorfanout", []string{"http"}, true},
	{"connectors", "alarm", []string{"http"}, true},
	{"extensions", "healthcheckv2", []string{"http", "grpc"}, true},
	{"extensions", "pprof", []string{""}, false},
}

// sharedTLS is the listener_tls block.
type sharedTLS struct {
	certFile, keyFile, clientCAFile string
	reloadInterval                  any // passed on as written (a duration)
	insecure                        bool
}

func (s sharedTLS) on() bool { return s.certFile != "" }

// server is the configtls server block each listener gets.
func (s sharedTLS) server() map[string]any {
	m := map[string]any{"cert_file": s.certFile, "key_file": s.keyFile}
	if s.reloadInterval != nil {
		m["reload_interval"] = s.reloadInterval
	}
	if s.clientCAFile != "" {
		m["client_ca_file"] = s.clientCAFile
		m["client_ca_file_reload"] = true
	}
	return m
}

func stringValue(key string, v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		return strings.TrimSpace(v), nil
	default:
		return "", fmt.Errorf("%s: want a path, got %v", key, v)
	}
}

func boolValue(key string, v any) (bool, error) {
	switch v := v.(type) {
	case nil:
		return false, nil
	case bool:
		return v, nil
	case string:
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "", "false":
			return false, nil
		case "true":
			return true, nil
		}
	}
	return false, fmt.Errorf("%s: want true or false, got %v", key, v)
}

// takeSharedTLS reads listener_tls and removes it from conf.
func takeSharedTLS(conf *confmap.Conf) (sharedTLS, error) {
	var s sharedTLS
	raw := conf.Get(listenerTLSKey)
	conf.Delete(listenerTLSKey)
	if raw == nil {
		return s, nil
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return s, fmt.Errorf("%s: want a map of cert_file, key_file, client_ca_file, reload_interval, insecure", listenerTLSKey)
	}
	var errs []error
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		key := listenerTLSKey + confmap.KeyDelimiter + k
		var err error
		switch k {
		case "cert_file":
			s.certFile, err = stringValue(key, m[k])
		case "key_file":
			s.keyFile, err = stringValue(key, m[k])
		case "client_ca_file":
			s.clientCAFile, err = stringValue(key, m[k])
		case "reload_interval":
			if v := m[k]; v != nil && v != "" {
				s.reloadInterval = v
			}
		case "insecure":
			s.insecure, err = boolValue(key, m[k])
		default:
			err = fmt.Errorf("%s: unknown key (want cert_file, key_file, client_ca_file, reload_interval, insecure)", key)
		}
		errs = append(errs, err)
	}
	if (s.certFile == "") != (s.keyFile == "") {
		errs = append(errs, fmt.Errorf("%s: cert_file and key_file go together (SCADAOTEL_TLS_CERT_FILE and SCADAOTEL_TLS_KEY_FILE in the default config)", listenerTLSKey))
	}
	if s.clientCAFile != "" && !s.on() {
		errs = append(errs, fmt.Errorf("%s: client_ca_file needs cert_file and key_file too", listenerTLSKey))
	}
	for k, f := range map[string]string{"cert_file": s.certFile, "key_file": s.keyFile, "client_ca_file": s.clientCAFile} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			errs = append(errs, fmt.Errorf("%s%s%s: %w", listenerTLSKey, confmap.KeyDelimiter, k, err))
		}
	}
	return s, errors.Join(errs...)
}

// applyListenerTLS gives every listener without a tls key of its own the
// listener_tls certificate, turns a listener's `tls: {insecure: true}` into
// plaintext, points the UI's upstream URLs at https where their listener
// now has TLS, and refuses a non-loopback listener without TLS unless the
// config says insecure.
func applyListenerTLS(conf *confmap.Conf) error {
	shared, err := takeSharedTLS(conf)
	if err != nil {
		return err
	}
	var errs []error
	var plaintext []string
	secured := map[string]bool{} // endpoint → serves TLS
	update := map[string]any{}
	for _, l := range serverListeners {
		comps, _ := conf.Get(l.kind).(map[string]any)
		ids := make([]string, 0, len(comps))
		for id := range comps {
			if typ, _, _ := strings.Cut(id, "/"); typ == l.typ {
				ids = append(ids, id)
			}
		}
		sort.Strings(ids)
		for _, id := range ids {
			for _, sec := range l.sections {
				prefix := l.kind + confmap.KeyDelimiter + id
				if sec != "" {
					prefix += confmap.KeyDelimiter + sec
					if !conf.IsSet(prefix) {
						continue // a protocol or section not configured stays off
					}
				}
				tlsKey := prefix + confmap.KeyDelimiter + "tls"
				hasTLS, insecure := false, false
				if own := conf.Get(tlsKey); own != nil {
					if m, ok := own.(map[string]any); ok && m["insecure"] != nil {
						if insecure, err = boolValue(tlsKey+confmap.KeyDelimiter+"insecure", m["insecure"]); err != nil {
							errs = append(errs, err)
							continue
						}
						if len(m) > 1 {
							errs = append(errs, fmt.Errorf("%s: insecure goes alone (a server's TLS has cert_file and key_file)", tlsKey))
							continue
						}
						conf.Delete(tlsKey) // not a configtls key: plaintext, as said
					}
					hasTLS = !insecure
				} else if shared.on() && l.tls {
					update[tlsKey] = shared.server()
					hasTLS = true
				}
				endpoint, _ := conf.Get(prefix + confmap.KeyDelimiter + "endpoint").(string)
				if hasTLS && endpoint != "" {
					secured[endpoint] = true
				}
				if !hasTLS && !insecure && !shared.insecure && endpoint != "" && !isLoopback(endpoint) {
					plaintext = append(plaintext, fmt.Sprintf("%s::endpoint %s", prefix, endpoint))
				}
			}
		}
	}
	if shared.on() {
		// The audit trail records each change of these files.
		files := []any{shared.certFile, shared.keyFile}
		if shared.clientCAFile != "" {
			files = append(files, shared.clientCAFile)
		}
		exts, _ := conf.Get("extensions").(map[string]any)
		for id := range exts {
			if typ, _, _ := strings.Cut(id, "/"); typ == "tenantauth" {
				update["extensions"+confmap.KeyDelimiter+id+confmap.KeyDelimiter+"audit"+confmap.KeyDelimiter+"certificate_files"] = files
			}
		}
	}
	if len(update) > 0 {
		if err := conf.Merge(confmap.NewFromStringMap(update)); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, upstreamsToHTTPS(conf, secured))
	if !shared.insecure {
		plaintext = append(plaintext, selfMetricsOffLoopback(conf)...)
	}
	if len(plaintext) > 0 {
		errs = append(errs, fmt.Errorf("%s not on loopback and without TLS: bearer tokens and process data would cross the network in clear text. "+
			"Give the listeners a certificate: SCADAOTEL_TLS_CERT_FILE and SCADAOTEL_TLS_KEY_FILE "+
			"(listener_tls: {cert_file, key_file} in your own config; `scadaotel certs init --dir /etc/scadaotel/tls --host <this machine's name>` makes a CA and a certificate and prints the settings), "+
			"or say plaintext is meant: SCADAOTEL_TLS_INSECURE=true (listener_tls::insecure: true), or tls: {insecure: true} on that one listener",
			strings.Join(plaintext, ", ")))
	}
	return errors.Join(errs...)
}

// selfMetricsOffLoopback names the self-metrics endpoints (the collector's
// Prometheus pull readers) bound off loopback: the collector serves them in
// plaintext only and without authentication, so like any plaintext
// listener they stay on loopback unless listener_tls says insecure.
func selfMetricsOffLoopback(conf *confmap.Conf) []string {
	const key = "service::telemetry::metrics::readers"
	readers, _ := conf.Get(key).([]any)
	var out []string
	for i, r := range readers {
		m, _ := r.(map[string]any)
		pull, _ := m["pull"].(map[string]any)
		exp, _ := pull["exporter"].(map[string]any)
		prom, _ := exp["prometheus"].(map[string]any)
		if prom == nil {
			continue
		}
		host, _ := prom["host"].(string)
		port := fmt.Sprint(prom["port"])
		if !isLoopback(net.JoinHostPort(host, port)) {
			out = append(out, fmt.Sprintf("%s[%d]::pull::exporter::prometheus::host %q (self-metrics, plaintext only)", key, i, host))
		}
	}
	return out
}

// uiUpstreams are the scada_ui keys holding URLs of the appliance's own
// listeners.
var uiUpstreams = []string{"trace_query_endpoint", "alerts_endpoint", "alarms_endpoint"}

// upstreamsToHTTPS turns the UI's http:// URL of a listener that serves TLS
// into https:// (the default config writes them from the same variables as
// the listeners' endpoints).
func upstreamsToHTTPS(conf *confmap.Conf, secured map[string]bool) error {
	comps, _ := conf.Get("extensions").(map[string]any)
	update := map[string]any{}
	for id := range comps {
		if typ, _, _ := strings.Cut(id, "/"); typ != "scada_ui" {
			continue
		}
		for _, k := range uiUpstreams {
			key := "extensions" + confmap.KeyDelimiter + id + confmap.KeyDelimiter + k
			s, _ := conf.Get(key).(string)
			u, err := url.Parse(s)
			if s == "" || err != nil || u.Scheme != "http" || !secured[u.Host] {
				continue
			}
			u.Scheme = "https"
			update[key] = u.String()
		}
	}
	if len(update) == 0 {
		return nil
	}
	return conf.Merge(confmap.NewFromStringMap(update))
}

// isLoopback: localhost, 127.0.0.0/8 or ::1. An empty host (all
// interfaces) or any other name is not.
func isLoopback(endpoint string) bool {
	host, _, err := net.SplitHostPort(endpoint)
	if err != nil {
		return true // not host:port (unix socket, or refused by the endpoint check)
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	host, _, _ = strings.Cut(host, "%") // zone
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
