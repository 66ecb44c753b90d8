//go:build e2e

package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scadaotel/scadaotel/internal/e2e"
	"github.com/scadaotel/scadaotel/tenants"
)

// telemetrygen runs the OpenTelemetry project's telemetrygen (an OTLP
// client this project did not write) with args and returns its exit error
// and output.
func telemetrygen(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, e2e.TelemetrygenBinary(t), args...).CombinedOutput()
	return string(out), err
}

// outcome is what telemetrygen's output says of its exports (its exit
// code does not: a failed trace export still exits 0), for the log.
func outcome(out string) string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "export") && !strings.Contains(l, "stopping the exporter") && len(keep) < 3 {
			keep = append(keep, strings.TrimSpace(l))
		}
	}
	return strings.Join(keep, "\n")
}

// tenantServices is the west tenant's service list from the trace API
// (its index of what the appliance accepted), over TLS.
func tenantServices(c *http.Client, traceQuery string) ([]string, error) {
	code, body, err := get(c, "https://"+traceQuery+"/api/services", westToken)
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("/api/services: %d %s", code, body)
	}
	var s struct {
		Data []string `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		return nil, err
	}
	return s.Data, nil
}

// telemetrygenOverTLS (issue 22): telemetrygen sends traces and metrics
// over OTLP gRPC and OTLP HTTP with --ca-cert (the CA of certs init in
// dir) and the tenant's token in --otlp-header: the spans are stored for
// the tenant (its trace API lists the service and Jaeger has every span)
// and the samples answer through the query API. The same runs in
// plaintext (--otlp-insecure) or trusting another CA (otherDir) get
// nothing accepted: they run first, and once the trusted runs' data has
// arrived their services and metrics are still absent.
func telemetrygenOverTLS(t *testing.T, env applianceEnv, dir, otherDir string) {
	trusted := tlsClient(t, caPool(t, dir))
	header := `Authorization="Bearer ` + westToken + `"`
	transports := []struct {
		name, endpoint string
		flags          []string
	}{
		{"grpc", env.grpc, nil},
		{"http", env.http, []string{"--otlp-http"}},
	}
	type run struct{ signal, transport, client, name string }
	clients := []struct {
		name  string
		flags []string
	}{
		// The refused ones first: their data would be ahead of the
		// trusted runs' in every queue.
		{"plain", []string{"--otlp-insecure", "--timeout", "3s"}},
		{"untrusted", []string{"--ca-cert", filepath.Join(otherDir, "ca.pem"), "--timeout", "3s"}},
		{"tls", []string{"--ca-cert", filepath.Join(dir, "ca.pem")}},
	}
	var runs []run
	for _, c := range clients {
		for _, tr := range transports {
			for _, signal := range []string{"traces", "metrics"} {
				r := run{signal, tr.name, c.name, "telemetrygen-" + c.name + "-" + tr.name}
				args := []string{signal, "--otlp-endpoint", tr.endpoint, "--otlp-header", header, "--rate", "0", "--service", r.name}
				if signal == "traces" {
					args = append(args, "--traces", "3")
				} else {
					r.name = strings.ReplaceAll(r.name, "-", "_")
					args = append(args, "--metrics", "2", "--otlp-metric-name", r.name)
				}
				args = append(append(args, tr.flags...), c.flags...)
				out, err := telemetrygen(t, args...)
				t.Logf("telemetrygen %s (%s, %s): exit %v\n%s", signal, tr.name, c.name, err, outcome(out))
				if c.name == "tls" && err != nil {
					t.Errorf("telemetrygen %s over %s trusting the CA: %v\n%s", signal, tr.name, err, out)
				}
				runs = append(runs, r)
			}
		}
	}
	// What the trusted runs sent arrived for the tenant: the services in
	// its trace API, every trace (2 spans each) in Jaeger through it, the
	// samples through the query API.
	for _, r := range runs {
		if r.client != "tls" {
			continue
		}
		switch r.signal {
		case "traces":
			e2e.Eventually(t, 30*time.Second, func() error {
				var body jaegerTraces
				code, raw, err := get(trusted, "https://"+env.traceQuery+"/api/traces?"+url.Values{"service": {r.name}, "lookback": {"1h"}, "limit": {"100"}}.Encode(), westToken)
				if err != nil || code != http.StatusOK {
					return fmt.Errorf("traces of %s: %d %v %s", r.name, code, err, raw)
				}
				if err := json.Unmarshal([]byte(raw), &body); err != nil {
					return err
				}
				spans := 0
				for _, tr := range body.Data {
					spans += len(tr.Spans)
				}
				if len(body.Data) != 3 || spans != 6 {
					return fmt.Errorf("%s: %d traces, %d spans stored, want 3 and 6", r.name, len(body.Data), spans)
				}
				return nil
			})
		case "metrics":
			e2e.Eventually(t, 30*time.Second, func() error {
				code, raw, err := get(trusted, "https://"+env.query+"/api/v1/query?query="+r.name, westToken)
				if err != nil || code != http.StatusOK || !strings.Contains(raw, `"__name__":"`+r.name+`"`) {
					return fmt.Errorf("query %s: %d %v %s", r.name, code, err, raw)
				}
				return nil
			})
		}
	}
	services, err := tenantServices(trusted, env.traceQuery)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the tenant's services in the trace API: %v", services)
	for _, r := range runs {
		if r.client == "tls" {
			continue
		}
		switch r.signal {
		case "traces":
			if slices.Contains(services, r.name) {
				t.Errorf("telemetrygen traces over %s (%s) were accepted: the tenant's services are %v", r.transport, r.client, services)
			}
		case "metrics":
			if code, raw, err := get(trusted, "https://"+env.query+"/api/v1/query?query="+r.name, westToken); err != nil || code != http.StatusOK || strings.Contains(raw, r.name) {
				t.Errorf("telemetrygen metrics over %s (%s): %d %v %s, want no series", r.transport, r.client, code, err, raw)
			}
		}
	}
}

// nssHome makes a HOME whose NSS database (where Chromium on Linux reads
// the authorities a user added) is empty, or trusts caFile to identify
// web sites (certutil -t C,,), as a user's `certutil -A` would.
func nssHome(t *testing.T, caFile string) string {
	t.Helper()
	home := t.TempDir()
	db := filepath.Join(home, ".pki", "nssdb")
	if err := os.MkdirAll(db, 0o700); err != nil {
		t.Fatal(err)
	}
	certutil := func(args ...string) string {
		out, err := exec.Command("certutil", append([]string{"-d", "sql:" + db}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("certutil %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	certutil("-N", "--empty-password")
	if caFile != "" {
		certutil("-A", "-t", "C,,", "-n", "scadaotel-ca", "-i", caFile)
		if l := certutil("-L"); !strings.Contains(l, "scadaotel-ca") {
			t.Fatalf("certutil -L lacks the CA:\n%s", l)
		}
	}
	return home
}

// chromiumOverTLS (issue 22): Debian's Chromium, with the CA of certs init
// in dir trusted in its NSS database, opens the UI by the certificate's
// host name, logs in with the tenant's token and sees the logged-in page
// (ui/web/test/tls.mjs); with an empty NSS database the navigation fails
// with net::ERR_CERT_AUTHORITY_INVALID.
func chromiumOverTLS(t *testing.T, env applianceEnv, dir, host string) {
	node, web := e2e.BrowserTools(t, e2e.Program{Name: "certutil", Package: "libnss3-tools"})
	caFile := filepath.Join(dir, "ca.pem")
	b, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatal("ca.pem holds no PEM block")
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(env.ui)
	art := t.TempDir()
	for _, expect := range []string{"trusted", "untrusted"} {
		home := nssHome(t, map[string]string{"trusted": caFile, "untrusted": ""}[expect])
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cmd := exec.CommandContext(ctx, node, filepath.Join(web, "test", "tls.mjs"))
		cmd.Dir = web
		cmd.Env = append(os.Environ(), "HOME="+home, "EXPECT="+expect,
			"UI_URL=https://"+net.JoinHostPort(host, port)+"/", "RESOLVE_TO=127.0.0.1",
			"TOKEN="+westToken, "TENANT=west-pipeline-01", "ACTOR="+tenants.TokenActor(westToken),
			"CA_NAME="+ca.Subject.CommonName, "ARTIFACTS="+art)
		out, err := cmd.CombinedOutput()
		cancel()
		t.Logf("tls.mjs, CA %s:\n%s", expect, out)
		if err != nil {
			t.Errorf("tls.mjs (CA %s) failed: %v", expect, err)
		}
	}
}
