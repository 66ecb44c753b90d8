package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		t.Fatalf("%s: no PEM certificate", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestInit: a CA and a server certificate it signed, for the given names
// and the loopback ones, P-256, keys 0600 and certificates 0644, usable by
// a client that trusts the CA under each name.
func TestInit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	now := time.Now()
	made, err := Init(dir, []string{"scada-01.plant", "10.20.0.5,scada-01"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"scada-01.plant", "10.20.0.5", "scada-01", "localhost", "127.0.0.1", "::1"}; strings.Join(made.Names, " ") != strings.Join(want, " ") {
		t.Errorf("names %v, want %v", made.Names, want)
	}
	st, err := os.Stat(dir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v, %v", st.Mode(), err)
	}
	for f, mode := range map[string]os.FileMode{CAFile: 0o644, CAKeyFile: 0o600, ServerFile: 0o644, ServerKeyFile: 0o600} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v (%v)", f, st.Mode().Perm(), mode, err)
		}
	}
	ca := readCert(t, filepath.Join(dir, CAFile))
	srv := readCert(t, filepath.Join(dir, ServerFile))
	if !ca.IsCA || ca.NotAfter.Before(now.Add(9*365*24*time.Hour)) {
		t.Errorf("CA: IsCA %v, until %v", ca.IsCA, ca.NotAfter)
	}
	if pub, ok := srv.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("server key %T, want ECDSA P-256", srv.PublicKey)
	}
	if srv.IsCA || srv.NotAfter.After(now.Add(LeafValidity+time.Minute)) || srv.NotBefore.After(now) {
		t.Errorf("server: IsCA %v, %v to %v", srv.IsCA, srv.NotBefore, srv.NotAfter)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	for _, name := range []string{"scada-01.plant", "10.20.0.5", "scada-01", "localhost", "127.0.0.1", "::1"} {
		if _, err := srv.Verify(x509.VerifyOptions{Roots: roots, DNSName: name, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("server certificate for %s: %v", name, err)
		}
	}
	if _, err := srv.Verify(x509.VerifyOptions{Roots: roots, DNSName: "other.plant"}); err == nil {
		t.Error("server certificate valid for a name not given")
	}
	// The appliance presents it to its own listeners under mTLS.
	if _, err := srv.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("server certificate as a client certificate: %v", err)
	}
	if !net.ParseIP("10.20.0.5").Equal(srv.IPAddresses[0]) {
		t.Errorf("IP SANs %v", srv.IPAddresses)
	}
}

// TestInitRefusesToOverwrite: a second init into the same directory
// fails, naming the file, and changes nothing.
func TestInitRefusesToOverwrite(t *testing.T) {
	dir := t.TempDir()
	if _, err := Init(dir, []string{"a"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, ServerKeyFile))
	_, err := Init(dir, []string{"b"}, time.Now())
	if err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("second init: %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, ServerKeyFile))
	if !bytes.Equal(before, after) {
		t.Error("the key was replaced")
	}
	// Only the server key left from a partial copy: refused as well.
	dir2 := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir2, ServerKeyFile), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Init(dir2, nil, time.Now()); err == nil || !strings.Contains(err.Error(), ServerKeyFile) {
		t.Fatalf("init over a lone key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir2, CAFile)); err == nil {
		t.Error("a refused init wrote the CA")
	}
}

func TestInitBadHost(t *testing.T) {
	for _, h := range []string{"0.0.0.0", "bad host", "-x.example", "a..b"} {
		if _, err := Init(t.TempDir(), []string{h}, time.Now()); err == nil || !strings.Contains(err.Error(), "--host") {
			t.Errorf("host %q: %v", h, err)
		}
	}
}

// TestClient: a client certificate from the CA, for clientAuth only.
func TestClient(t *testing.T) {
	dir := t.TempDir()
	if _, err := Client(dir, "grafana", time.Now()); err == nil || !strings.Contains(err.Error(), "certs init") {
		t.Fatalf("client without a CA: %v", err)
	}
	if _, err := Init(dir, []string{"scada"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := Client(dir, "../x", time.Now()); err == nil {
		t.Fatal("a name with a path accepted")
	}
	if _, err := Client(dir, "server", time.Now()); err == nil {
		t.Fatal("client named like the server certificate accepted")
	}
	made, err := Client(dir, "grafana", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(made.Files[1]); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("client key mode: %v %v", st.Mode(), err)
	}
	c := readCert(t, made.Files[0])
	roots := x509.NewCertPool()
	roots.AddCert(readCert(t, filepath.Join(dir, CAFile)))
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate: %v", err)
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Error("client certificate usable as a server certificate")
	}
	if _, err := Client(dir, "grafana", time.Now()); err == nil {
		t.Error("client certificate overwritten")
	}
}
