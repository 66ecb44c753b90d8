// Package certs makes a local certificate authority and the appliance's
// server certificate for a first network deployment (`scadaotel certs
// init`), and client certificates from that CA for mTLS (`scadaotel certs
// client`). ECDSA P-256 keys, PKCS #8, files 0600 (keys) and 0644
// (certificates); nothing existing is overwritten.
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// File names inside the directory.
const (
	CAFile        = "ca.pem"
	CAKeyFile     = "ca-key.pem"
	ServerFile    = "server.pem"
	ServerKeyFile = "server-key.pem"
)

// Validity of what is made: the CA outlives several server certificates;
// a server certificate is renewed every two years (certs init into a new
// directory, or your own CA).
const (
	CAValidity     = 10 * 365 * 24 * time.Hour
	LeafValidity   = 2 * 365 * 24 * time.Hour
	backdateLeeway = time.Hour // clocks of clients a little behind
)

// loopbackNames are in every server certificate: local clients (make run,
// curl on the box) connect through them.
var loopbackNames = []string{"localhost", "127.0.0.1", "::1"}

// Made describes what Init or Client wrote.
type Made struct {
	Dir      string
	Files    []string // paths written
	Names    []string // DNS names and IPs of the server certificate
	NotAfter time.Time
}

// Init creates dir (0700 when missing) and writes a new CA and a server
// certificate for hosts (DNS names or IP addresses; the loopback names are
// always added) into it. It refuses when any of the files exists.
func Init(dir string, hosts []string, now time.Time) (*Made, error) {
	names, err := serverNames(hosts)
	if err != nil {
		return nil, err
	}
	paths := []string{filepath.Join(dir, CAFile), filepath.Join(dir, CAKeyFile), filepath.Join(dir, ServerFile), filepath.Join(dir, ServerKeyFile)}
	if err := refuseExisting(paths); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create %s: %w", dir, err)
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	skid, err := keyID(&caKey.PublicKey)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: "scadaotel local CA (" + names[0] + ")", Organization: []string{"scadaotel"}},
		NotBefore:             now.Add(-backdateLeeway),
		NotAfter:              now.Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		SubjectKeyId:          skid,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("cannot make the CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	leafDER, leafKey, err := issue(ca, caKey, names[0], names, now, x509.ExtKeyUsageServerAuth,
		// The appliance's own calls between its listeners (the UI reading
		// the trace and alert APIs) present this certificate under mTLS.
		x509.ExtKeyUsageClientAuth)
	if err != nil {
		return nil, err
	}
	caKeyPEM, err := pkcs8(caKey)
	if err != nil {
		return nil, err
	}
	leafKeyPEM, err := pkcs8(leafKey)
	if err != nil {
		return nil, err
	}
	made := &Made{Dir: dir, Names: names, NotAfter: now.Add(LeafValidity)}
	files := []struct {
		path string
		body []byte
		mode os.FileMode
	}{
		{paths[0], pemBlock("CERTIFICATE", caDER), 0o644},
		{paths[1], caKeyPEM, 0o600},
		{paths[2], pemBlock("CERTIFICATE", leafDER), 0o644},
		{paths[3], leafKeyPEM, 0o600},
	}
	for _, f := range files {
		if err := writeNew(f.path, f.body, f.mode); err != nil {
			for _, p := range made.Files {
				_ = os.Remove(p)
			}
			return nil, err
		}
		made.Files = append(made.Files, f.path)
	}
	return made, nil
}

var clientNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}$`)

// Client writes <name>.pem and <name>-key.pem into dir: a client
// certificate (clientAuth) with common name name, signed by the CA Init
// made there.
func Client(dir, name string, now time.Time) (*Made, error) {
	if !clientNameRE.MatchString(name) {
		return nil, fmt.Errorf("--name %q: want letters, digits, '.', '_' or '-' (at most 63)", name)
	}
	paths := []string{filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")}
	for _, reserved := range []string{CAFile, ServerFile} {
		if filepath.Base(paths[0]) == reserved {
			return nil, fmt.Errorf("--name %q: the name of the CA or server certificate", name)
		}
	}
	if err := refuseExisting(paths); err != nil {
		return nil, err
	}
	ca, caKey, err := LoadCA(dir)
	if err != nil {
		return nil, err
	}
	der, key, err := issue(ca, caKey, name, nil, now, x509.ExtKeyUsageClientAuth)
	if err != nil {
		return nil, err
	}
	keyPEM, err := pkcs8(key)
	if err != nil {
		return nil, err
	}
	made := &Made{Dir: dir, NotAfter: now.Add(LeafValidity)}
	if err := writeNew(paths[0], pemBlock("CERTIFICATE", der), 0o644); err != nil {
		return nil, err
	}
	made.Files = append(made.Files, paths[0])
	if err := writeNew(paths[1], keyPEM, 0o600); err != nil {
		_ = os.Remove(paths[0])
		return nil, err
	}
	made.Files = append(made.Files, paths[1])
	return made, nil
}

// LoadCA reads the CA certificate and key Init wrote into dir.
func LoadCA(dir string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, CAFile))
	if err != nil {
		return nil, nil, fmt.Errorf("no CA here (scadaotel certs init --dir %s makes one): %w", dir, err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, CAKeyFile))
	if err != nil {
		return nil, nil, fmt.Errorf("the CA's key: %w", err)
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, fmt.Errorf("%s or %s in %s is not PEM", CAFile, CAKeyFile, dir)
	}
	ca, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", CAFile, err)
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", CAKeyFile, err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, nil, fmt.Errorf("%s: not an ECDSA key", CAKeyFile)
	}
	return ca, key, nil
}

func issue(ca *x509.Certificate, caKey *ecdsa.PrivateKey, cn string, names []string, now time.Time, usage ...x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:   sn,
		Subject:        pkix.Name{CommonName: cn, Organization: []string{"scadaotel"}},
		NotBefore:      now.Add(-backdateLeeway),
		NotAfter:       now.Add(LeafValidity),
		KeyUsage:       x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    usage,
		AuthorityKeyId: ca.SubjectKeyId,
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot make the certificate for %s: %w", cn, err)
	}
	return der, key, nil
}

var dnsNameRE = regexp.MustCompile(`^(\*\.)?[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$`)

// serverNames is hosts (checked, without duplicates) and the loopback names.
func serverNames(hosts []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	add := func(n string) {
		if !seen[strings.ToLower(n)] {
			seen[strings.ToLower(n)] = true
			out = append(out, n)
		}
	}
	for _, h := range hosts {
		for _, n := range strings.Split(h, ",") {
			n = strings.TrimSpace(n)
			if n == "" {
				continue
			}
			if ip := net.ParseIP(strings.Trim(n, "[]")); ip != nil {
				if ip.IsUnspecified() {
					return nil, fmt.Errorf("--host %s: a wildcard address is no name clients connect to; give the machine's address", n)
				}
				add(ip.String())
				continue
			}
			if len(n) > 253 || !dnsNameRE.MatchString(n) {
				return nil, fmt.Errorf("--host %q: want a DNS name or an IP address", n)
			}
			add(n)
		}
	}
	for _, n := range loopbackNames {
		add(n)
	}
	return out, nil
}

func refuseExisting(paths []string) error {
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s exists: certs never overwrites a key or certificate (move it away, or choose another --dir)", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// writeNew creates path (never replacing one), writes body and syncs it.
func writeNew(path string, body []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(body); err != nil {
		f.Close()
		_ = os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		_ = os.Remove(path)
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(path)
		return err
	}
	return os.Chmod(path, mode) // whatever the umask took away from 0644
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func pkcs8(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pemBlock("PRIVATE KEY", der), nil
}

// serial is a random positive 127-bit serial number.
func serial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	return n.Add(n, big.NewInt(1)), nil
}

func keyID(pub *ecdsa.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	return sum[:20], nil
}
