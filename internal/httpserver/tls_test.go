package httpserver

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configtls"
	"go.uber.org/zap"
)

// TestListenServesTLSToHTTP2AndHTTP1: a server started on Listen or
// ListenHTTP with TLS is capped and still answers HTTP/2 and HTTP/1.1
// clients with Request.TLS set (the cap sits under the TLS layer: over it,
// net/http would serve the connection as plaintext HTTP/1).
func TestListenServesTLSToHTTP2AndHTTP1(t *testing.T) {
	pool, cert, key := makeCA(t, filepath.Join(t.TempDir(), "ca"), "scada")
	sc := configtls.NewDefaultServerConfig()
	sc.CertFile, sc.KeyFile = cert, key
	hc := confighttp.NewDefaultServerConfig()
	hc.NetAddr.Endpoint = "127.0.0.1:0"
	hc.TLS = configoptional.Some(sc)
	listeners := map[string]func() (net.Listener, error){
		"Listen": func() (net.Listener, error) {
			return Listen(context.Background(), "127.0.0.1:0", configoptional.Some(sc))
		},
		"ListenHTTP": func() (net.Listener, error) { return ListenHTTP(context.Background(), &hc) },
	}
	for name, listen := range listeners {
		ln, err := listen()
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := ln.(*tlsOverCap); !ok {
			t.Fatalf("%s: %T, want a TLS listener over the cap", name, ln)
		}
		s := Start("test", &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s tls=%v", r.Proto, r.TLS != nil)
		})}, ln, nil, zap.NewNop())
		for proto, h2 := range map[string]bool{"HTTP/2.0": true, "HTTP/1.1": false} {
			tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "scada"}, ForceAttemptHTTP2: h2}
			resp, err := (&http.Client{Transport: tr}).Get("https://" + s.Addr() + "/")
			if err != nil {
				t.Fatalf("%s %s: %v", name, proto, err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			tr.CloseIdleConnections()
			if want := proto + " tls=true"; string(b) != want {
				t.Errorf("%s: answered %q, want %q", name, b, want)
			}
		}
		if err := s.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}
