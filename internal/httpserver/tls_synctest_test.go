package httpserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/collector/config/configtls"

	"github.com/scadaotel/scadaotel/internal/certs"
)

// handshake runs one TLS handshake over loopback TCP between a server
// with srv and a client with cli, and returns the certificate the server
// showed and the first error of either side. Nothing is left running, so
// a synctest bubble's clock can advance afterwards.
func handshake(t *testing.T, srv, cli *tls.Config) (*x509.Certificate, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		s := tls.Server(c, srv)
		err = s.Handshake()
		if err == nil {
			// TLS 1.3: a refused client certificate shows on the first read.
			_, err = s.Write([]byte("x"))
		}
		c.Close()
		done <- err
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	cl := tls.Client(c, cli)
	cliErr := cl.Handshake()
	var leaf *x509.Certificate
	if cliErr == nil {
		leaf = cl.ConnectionState().PeerCertificates[0]
		_, cliErr = cl.Read(make([]byte, 1))
	}
	c.Close()
	srvErr := <-done
	if cliErr != nil {
		return leaf, cliErr
	}
	return leaf, srvErr
}

func makeCA(t *testing.T, dir string, hosts ...string) (pool *x509.CertPool, cert, key string) {
	t.Helper()
	if _, err := certs.Init(dir, hosts, time.Now()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, certs.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AppendCertsFromPEM(b)
	return pool, filepath.Join(dir, certs.ServerFile), filepath.Join(dir, certs.ServerKeyFile)
}

// replace puts src's content at dst the way a site rotates a certificate
// (a new file renamed over the old one).
func replace(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	tmp := dst + ".new"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

// TestServerTLSReloadsWithinTheInterval: the listeners' TLS (configtls
// with reload_interval, as listener_tls sets it) keeps serving the
// certificate it read until the interval has passed, then serves the one
// now on disk, without a restart; a client trusting only the old CA is
// then refused.
func TestServerTLSReloadsWithinTheInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := t.TempDir()
		poolA, certFile, keyFile := makeCA(t, filepath.Join(base, "a"), "scada-a")
		poolB, certB, keyB := makeCA(t, filepath.Join(base, "b"), "scada-b")
		live := filepath.Join(base, "live")
		if err := os.Mkdir(live, 0o700); err != nil {
			t.Fatal(err)
		}
		cert, key := filepath.Join(live, "server.pem"), filepath.Join(live, "server-key.pem")
		replace(t, certFile, cert)
		replace(t, keyFile, key)

		sc := configtls.NewDefaultServerConfig()
		sc.CertFile, sc.KeyFile, sc.ReloadInterval = cert, key, time.Minute
		srv, err := ServerTLS(context.Background(), sc)
		if err != nil {
			t.Fatal(err)
		}
		trustA := &tls.Config{RootCAs: poolA, ServerName: "scada-a"}
		trustB := &tls.Config{RootCAs: poolB, ServerName: "scada-b"}
		if leaf, err := handshake(t, srv, trustA); err != nil || leaf.Subject.CommonName != "scada-a" {
			t.Fatalf("first certificate: %v, %v", leaf, err)
		}
		replace(t, certB, cert)
		replace(t, keyB, key)
		time.Sleep(30 * time.Second)
		if leaf, err := handshake(t, srv, trustA); err != nil || leaf.Subject.CommonName != "scada-a" {
			t.Fatalf("within the interval the read certificate is kept: %v, %v", leaf, err)
		}
		time.Sleep(31 * time.Second)
		if leaf, err := handshake(t, srv, trustB); err != nil || leaf.Subject.CommonName != "scada-b" {
			t.Fatalf("after the interval the new certificate is served: %v, %v", leaf, err)
		}
		if _, err := handshake(t, srv, trustA); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("a client trusting only the old CA: %v, want a certificate error", err)
		}
	})
}

// TestServerTLSClientCA: with client_ca_file a client without a
// certificate, or with one from another CA, is refused; one from the CA is
// accepted.
func TestServerTLSClientCA(t *testing.T) {
	base := t.TempDir()
	dirA, dirB := filepath.Join(base, "a"), filepath.Join(base, "b")
	poolA, cert, key := makeCA(t, dirA, "scada-a")
	makeCA(t, dirB, "scada-b")
	sc := configtls.NewDefaultServerConfig()
	sc.CertFile, sc.KeyFile, sc.ClientCAFile, sc.ReloadClientCAFile = cert, key, filepath.Join(dirA, certs.CAFile), true
	srv, err := ServerTLS(context.Background(), sc)
	if err != nil {
		t.Fatal(err)
	}
	clientCert := func(dir, name string) []tls.Certificate {
		if _, err := certs.Client(dir, name, time.Now()); err != nil {
			t.Fatal(err)
		}
		kp, err := tls.LoadX509KeyPair(filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		return []tls.Certificate{kp}
	}
	if _, err := handshake(t, srv, &tls.Config{RootCAs: poolA, ServerName: "scada-a"}); err == nil {
		t.Fatal("a client without a certificate was accepted")
	}
	if _, err := handshake(t, srv, &tls.Config{RootCAs: poolA, ServerName: "scada-a", Certificates: clientCert(dirB, "stranger")}); err == nil {
		t.Fatal("a client certificate from another CA was accepted")
	}
	if _, err := handshake(t, srv, &tls.Config{RootCAs: poolA, ServerName: "scada-a", Certificates: clientCert(dirA, "grafana")}); err != nil {
		t.Fatalf("a client certificate from the CA: %v", err)
	}
}

// TestSelfClientTLS: the appliance's calls to its own listeners trust the
// certificate they serve (whatever name was dialled), follow it when it
// is replaced on disk, refuse any other, and present it under mTLS.
func TestSelfClientTLS(t *testing.T) {
	base := t.TempDir()
	dirA, dirB := filepath.Join(base, "a"), filepath.Join(base, "b")
	_, certA, keyA := makeCA(t, dirA, "scada-a")
	_, certB, keyB := makeCA(t, dirB, "scada-b")
	live := filepath.Join(base, "live")
	if err := os.Mkdir(live, 0o700); err != nil {
		t.Fatal(err)
	}
	cert, key := filepath.Join(live, "server.pem"), filepath.Join(live, "server-key.pem")
	replace(t, certA, cert)
	replace(t, keyA, key)
	sc := configtls.NewDefaultServerConfig()
	sc.CertFile, sc.KeyFile = cert, key
	sc.ClientCAFile = filepath.Join(dirA, certs.CAFile) // mTLS: the client shows server.pem
	srv, err := ServerTLS(context.Background(), sc)
	if err != nil {
		t.Fatal(err)
	}
	self := SelfClientTLS(sc)
	if _, err := handshake(t, srv, self); err != nil {
		t.Fatalf("own certificate, mTLS: %v", err)
	}
	// Another server (another certificate): refused.
	other := configtls.NewDefaultServerConfig()
	other.CertFile, other.KeyFile = certB, keyB
	otherSrv, err := ServerTLS(context.Background(), other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := handshake(t, otherSrv, SelfClientTLS(sc)); err == nil || !strings.Contains(err.Error(), "not the one this appliance serves") {
		t.Fatalf("another certificate: %v, want refused", err)
	}
	// The certificate replaced on disk: the client trusts the new one.
	replace(t, certB, cert)
	replace(t, keyB, key)
	if _, err := handshake(t, otherSrv, self); err != nil {
		t.Fatalf("after the swap: %v", err)
	}
}

// TestSelfClientTLSFollowsTheReload: two listeners re-read the swapped
// certificate at different moments (each at its first handshake after its
// reload_interval). While one already serves the new certificate and the
// other still the old one, the appliance's calls to both are accepted
// (before, the second was refused: a 502 in the UI); once the interval
// (and its margin) has passed since the pin saw the change, the old
// certificate is refused again, and a foreign one all along.
func TestSelfClientTLSFollowsTheReload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := t.TempDir()
		_, certA, keyA := makeCA(t, filepath.Join(base, "a"), "scada-a")
		_, certB, keyB := makeCA(t, filepath.Join(base, "b"), "scada-b")
		_, certC, keyC := makeCA(t, filepath.Join(base, "c"), "scada-c")
		live := filepath.Join(base, "live")
		if err := os.Mkdir(live, 0o700); err != nil {
			t.Fatal(err)
		}
		cert, key := filepath.Join(live, "server.pem"), filepath.Join(live, "server-key.pem")
		replace(t, certA, cert)
		replace(t, keyA, key)
		listener := func() *tls.Config {
			sc := configtls.NewDefaultServerConfig()
			sc.CertFile, sc.KeyFile, sc.ReloadInterval = cert, key, time.Minute
			srv, err := ServerTLS(context.Background(), sc)
			if err != nil {
				t.Fatal(err)
			}
			return srv
		}
		fixed := func(c, k string) *tls.Config { // never re-reads: serves c for good
			sc := configtls.NewDefaultServerConfig()
			sc.CertFile, sc.KeyFile = c, k
			srv, err := ServerTLS(context.Background(), sc)
			if err != nil {
				t.Fatal(err)
			}
			return srv
		}
		sc := configtls.NewDefaultServerConfig()
		sc.CertFile, sc.KeyFile, sc.ReloadInterval = cert, key, time.Minute
		self := SelfClientTLS(sc)
		served := func(srv *tls.Config) (string, error) {
			leaf, err := handshake(t, srv, self)
			if leaf == nil {
				return "", err
			}
			return leaf.Subject.CommonName, err
		}

		early := listener() // read at 0 s: re-reads from 60 s
		time.Sleep(30 * time.Second)
		late := listener() // read at 30 s: re-reads from 90 s
		oldForGood := fixed(certA, keyA)
		foreign := fixed(certC, keyC)
		for _, srv := range []*tls.Config{early, late} {
			if cn, err := served(srv); err != nil || cn != "scada-a" {
				t.Fatalf("before the swap: %s %v", cn, err)
			}
		}
		time.Sleep(10 * time.Second)
		replace(t, certB, cert) // swapped at 40 s
		replace(t, keyB, key)
		time.Sleep(21 * time.Second) // 61 s
		if cn, err := served(early); err != nil || cn != "scada-b" {
			t.Fatalf("the listener that re-read: %s %v, want scada-b accepted", cn, err)
		}
		if cn, err := served(late); err != nil || cn != "scada-a" {
			t.Fatalf("the listener that has not re-read yet: %s %v, want scada-a accepted", cn, err)
		}
		if _, err := served(foreign); err == nil || !strings.Contains(err.Error(), "not the one this appliance serves") {
			t.Fatalf("a foreign certificate during the grace: %v, want refused", err)
		}
		time.Sleep(30 * time.Second) // 91 s
		if cn, err := served(late); err != nil || cn != "scada-b" {
			t.Fatalf("the late listener after its interval: %s %v", cn, err)
		}
		if _, err := served(oldForGood); err != nil {
			t.Fatalf("the old certificate within reload_interval + margin of the change: %v", err)
		}
		time.Sleep(40 * time.Second) // 131 s: 61 s + 60 s + 5 s have passed
		if _, err := served(oldForGood); err == nil || !strings.Contains(err.Error(), "not the one this appliance serves") {
			t.Fatalf("the old certificate after the grace: %v, want refused", err)
		}
		if cn, err := served(early); err != nil || cn != "scada-b" {
			t.Fatalf("the new certificate: %s %v", cn, err)
		}
	})
}
