// Package audit is the appliance's tamper-evident audit trail (等保 2.0
// level 3: security audit): one JSON line per event, each carrying the
// keyed hash of the one before, fsync'ed before the action it records is
// answered, rotated by size with the chain carried into the next file and
// removed by age. `scadaotel audit verify` checks the chain and names the
// first record that does not fit.
package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// Outcomes of an audited action.
const (
	Success = "success"
	Failure = "failure"
	Refused = "refused"
)

// Record is one audited event.
type Record struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	Actor   string    `json:"actor"`            // who: a token's name, an administrator, "cli:<user>", or "-"
	Tenant  string    `json:"tenant,omitempty"` // whose data or settings
	Source  string    `json:"source,omitempty"` // client address
	Action  string    `json:"action"`           // e.g. login, auth_failure, tenant_add
	Object  string    `json:"object,omitempty"` // what was acted on
	Outcome string    `json:"outcome"`          // success, failure, refused
	Detail  string    `json:"detail,omitempty"`
	Count   int       `json:"count,omitempty"` // >1: this many events aggregated (auth failures of one source)
	Prev    string    `json:"prev"`            // Hash of the record before ("" for the first ever)
	Hash    string    `json:"hash,omitempty"`
}

// hashOf is HMAC-SHA256(key, JSON of r without its hash): editing any field,
// or the order, breaks the chain, and without the key nobody can write a
// chain that verifies.
func hashOf(key []byte, r Record) string {
	r.Hash = ""
	b, _ := json.Marshal(r) // a Record always marshals
	m := hmac.New(sha256.New, key)
	m.Write(b)
	return hex.EncodeToString(m.Sum(nil))
}
