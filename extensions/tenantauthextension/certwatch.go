package tenantauthextension

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"time"

	"github.com/scadaotel/scadaotel/internal/audit"
)

// certWatch records in the audit trail every change of the listeners'
// certificate files (audit.certificate_files, which the binary fills from
// listener_tls): the listeners serve the new content from their first
// handshake after reload_interval.
type certWatch struct {
	a     *auditor
	files []string
	sums  map[string][sha256.Size]byte
	stop  chan struct{}
	done  chan struct{}
}

func fileSum(path string) ([sha256.Size]byte, []byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return [sha256.Size]byte{}, nil, err
	}
	return sha256.Sum256(b), b, nil
}

func newCertWatch(a *auditor, files []string) *certWatch {
	w := &certWatch{a: a, files: files, sums: map[string][sha256.Size]byte{}, stop: make(chan struct{}), done: make(chan struct{})}
	for _, f := range files {
		if sum, _, err := fileSum(f); err == nil {
			w.sums[f] = sum
		}
	}
	return w
}

// check compares each file with what it held at the last check and
// records each change: the certificate's subject, expiry and fingerprint,
// or why it cannot be read (new handshakes then fail until it is fixed).
func (w *certWatch) check() {
	for _, f := range w.files {
		sum, body, err := fileSum(f)
		if err == nil && sum == w.sums[f] {
			continue
		}
		if err != nil && w.sums[f] == ([sha256.Size]byte{}) {
			continue // still unreadable: recorded once
		}
		w.sums[f] = sum
		r := audit.Record{Actor: "-", Action: "certificate_reload", Object: f, Outcome: audit.Success}
		switch {
		case err != nil:
			r.Outcome, r.Detail = audit.Failure, err.Error()
		default:
			r.Detail = describePEM(body, sum)
		}
		w.a.write(r)
	}
}

// describePEM names the first certificate of body, or says it is a key.
func describePEM(body []byte, sum [sha256.Size]byte) string {
	blk, _ := pem.Decode(body)
	switch {
	case blk == nil:
		return "not PEM: new TLS handshakes fail until it is fixed"
	case blk.Type != "CERTIFICATE":
		return fmt.Sprintf("%s replaced (file sha256 %s)", blk.Type, hex.EncodeToString(sum[:8]))
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return "unreadable certificate: " + err.Error()
	}
	fp := sha256.Sum256(c.Raw)
	return fmt.Sprintf("subject %s, not after %s, sha256 %s", c.Subject.String(), c.NotAfter.UTC().Format(time.RFC3339), hex.EncodeToString(fp[:]))
}

func (w *certWatch) run(interval time.Duration) {
	defer close(w.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			w.check()
		}
	}
}

func (w *certWatch) halt() {
	if w == nil {
		return
	}
	close(w.stop)
	<-w.done
}
