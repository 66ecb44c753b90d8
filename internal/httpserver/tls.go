package httpserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configtls"

	"github.com/scadaotel/scadaotel/internal/connguard"
)

// Listen opens a TCP listener on endpoint, capped like Start caps one,
// with TLS when tlsCfg has a value: the collector's own configtls server
// settings (certificate and key re-read every reload_interval,
// client_ca_file for mTLS), the same as the confighttp servers of the
// other components get. HTTP/2 and HTTP/1.1 are offered, as confighttp
// does.
func Listen(ctx context.Context, endpoint string, tlsCfg configoptional.Optional[configtls.ServerConfig]) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", endpoint)
	if err != nil {
		return nil, err
	}
	return withTLS(ctx, ln, tlsCfg)
}

// ListenHTTP is confighttp's ServerConfig.ToListener for a server Start
// runs: the connection cap goes under the TLS layer, not over it, because
// net/http serves HTTP/2 and sets Request.TLS only for connections that
// are a *tls.Conn (a capped TLS connection would be served as plaintext
// HTTP/1, and break every client that negotiated h2).
func ListenHTTP(ctx context.Context, sc *confighttp.ServerConfig) (net.Listener, error) {
	ln, err := sc.NetAddr.Listen(ctx)
	if err != nil {
		return nil, err
	}
	return withTLS(ctx, ln, sc.TLS)
}

// tlsOverCap is a TLS listener over a capped one: Start does not cap it again.
type tlsOverCap struct{ net.Listener }

func withTLS(ctx context.Context, ln net.Listener, tlsCfg configoptional.Optional[configtls.ServerConfig]) (net.Listener, error) {
	capped := connguard.Limit(ln, 0)
	if !tlsCfg.HasValue() {
		return capped, nil
	}
	cfg, err := ServerTLS(ctx, *tlsCfg.Get())
	if err != nil {
		_ = capped.Close()
		return nil, err
	}
	return &tlsOverCap{Listener: tls.NewListener(capped, cfg)}, nil
}

// ServerTLS is the tls.Config Listen serves with.
func ServerTLS(ctx context.Context, c configtls.ServerConfig) (*tls.Config, error) {
	cfg, err := c.LoadTLSConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	cfg.NextProtos = []string{"h2", "http/1.1"}
	return cfg, nil
}

// Scheme is "https" when tlsCfg has a value, else "http" (for log lines).
func Scheme(tlsCfg configoptional.Optional[configtls.ServerConfig]) string {
	if tlsCfg.HasValue() {
		return "https"
	}
	return "http"
}

// SelfClientTLS is the client side of calls a component makes to other
// listeners of the same process that serve the same certificate (the UI
// reading the trace and alert APIs): it trusts exactly the certificate in
// srv's cert_file (re-read when the peer shows another, so a certificate
// swapped on disk is trusted once the servers serve it), whatever names
// it carries, and presents srv's certificate and key when a listener asks
// for a client certificate (mTLS: the client CA must then trust it, and
// it needs the clientAuth usage, as `scadaotel certs init` makes it).
// Trusting the one certificate rather than a CA needs no name check: the
// process dials its own listeners, often through a wildcard or loopback
// address the certificate does not name.
//
// Each listener re-reads the file on its own, at its first handshake once
// reload_interval has passed since its last read, so for up to one
// interval after a swap some listeners still serve the certificate that
// was in the file before. The pin therefore keeps trusting that previous
// certificate for reload_interval (plus a margin) after it saw the file
// change, and no longer: a call to a listener that has not reloaded yet
// is not refused (it was a 502 in the UI), and a certificate replaced
// because its key leaked stops being trusted once no listener can serve
// it any more. With reload_interval 0 the listeners never re-read the
// file, so the certificate they started with stays trusted.
func SelfClientTLS(srv configtls.ServerConfig) *tls.Config {
	p := &selfPin{srv: srv, now: time.Now}
	if srv.ReloadInterval > 0 {
		p.grace = srv.ReloadInterval + selfPinMargin
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The chain and name checks are replaced by VerifyConnection's
		// exact comparison with the served certificate.
		InsecureSkipVerify: true,
		VerifyConnection:   p.verify,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			kp, err := p.keyPair()
			if err != nil {
				return nil, err
			}
			return &kp, nil
		},
	}
}

// selfPinMargin is added to reload_interval: a listener re-reads at its
// first handshake after the interval, which can start a moment after the
// pin noticed the change.
const selfPinMargin = 5 * time.Second

type selfPin struct {
	srv       configtls.ServerConfig
	grace     time.Duration // how long prev stays trusted (0: for good)
	now       func() time.Time
	mu        sync.Mutex
	leaf      []byte    // DER of the certificate last read from cert_file
	prev      []byte    // DER of the one read before it
	prevUntil time.Time // prev is trusted until then (grace > 0)
}

func (p *selfPin) certPEM() ([]byte, error) {
	if p.srv.CertPem != "" {
		return []byte(p.srv.CertPem), nil
	}
	if p.srv.CertFile == "" {
		return nil, errors.New("no cert_file to trust")
	}
	return os.ReadFile(p.srv.CertFile)
}

func (p *selfPin) keyPair() (tls.Certificate, error) {
	cert, err := p.certPEM()
	if err != nil {
		return tls.Certificate{}, err
	}
	var key []byte
	if p.srv.KeyPem != "" {
		key = []byte(p.srv.KeyPem)
	} else if key, err = os.ReadFile(p.srv.KeyFile); err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(cert, key)
}

// trustedPrevLocked: got is the previous certificate, still within its grace.
func (p *selfPin) trustedPrevLocked(got []byte) bool {
	return p.prev != nil && bytes.Equal(got, p.prev) && (p.grace == 0 || p.now().Before(p.prevUntil))
}

func (p *selfPin) verify(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("the listener showed no certificate")
	}
	got := cs.PeerCertificates[0].Raw
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.leaf != nil && bytes.Equal(got, p.leaf) || p.trustedPrevLocked(got) {
		return nil
	}
	b, err := p.certPEM()
	if err != nil {
		return fmt.Errorf("cannot read the appliance's own certificate: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return errors.New("the appliance's own certificate file holds no PEM certificate")
	}
	if !bytes.Equal(blk.Bytes, p.leaf) {
		// The file changed: the certificate read before stays trusted
		// while listeners that have not re-read the file may serve it.
		if p.leaf != nil {
			p.prev, p.prevUntil = p.leaf, p.now().Add(p.grace)
		}
		p.leaf = blk.Bytes
	}
	if bytes.Equal(got, p.leaf) || p.trustedPrevLocked(got) {
		return nil
	}
	return errors.New("the listener's certificate is not the one this appliance serves (cert_file)")
}
