package tenants

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"

	"github.com/scadaotel/scadaotel/internal/secretfile"
)

// The appliance's self-metrics are served without authentication on
// loopback (the collector's Prometheus endpoint has no auth), so they must
// not say which tenants exist nor how much each sends. A per-tenant
// self-metric carries a keyed pseudonym of the tenant instead of its id:
// stable across restarts (the key lives in the data directory), useless for
// guessing ids without the key, and mapped back to ids in-process for the
// UI's Appliance view (a tenant's own figures, or all of them for an
// administrator).

// SelfMetricKeyFile is the key's file name in the data directory.
const SelfMetricKeyFile = "self-metrics.key"

var selfMetricKey atomic.Pointer[[]byte]

// SetSelfMetricKey sets the process-wide pseudonym key (before components
// start). Without a key (nil), pseudonyms are the tenant ids themselves,
// which is what in-process tests of single components expect.
func SetSelfMetricKey(key []byte) {
	var k *[]byte
	if key != nil {
		c := append([]byte(nil), key...)
		k = &c
	}
	pseudonymCache.Lock()
	selfMetricKey.Store(k)
	clear(pseudonymCache.m)
	pseudonymCache.Unlock()
}

// pseudonymCache saves an HMAC per request on hot paths; tenants are few,
// and the bound keeps a flood of distinct strings from growing it.
var pseudonymCache = struct {
	sync.RWMutex
	m map[string]string
}{m: map[string]string{}}

const maxCachedPseudonyms = 4096

// SelfMetricPseudonym is the value of SelfMetricAttribute for tenant.
func SelfMetricPseudonym(tenant string) string {
	k := selfMetricKey.Load()
	if k == nil || tenant == "" {
		return tenant
	}
	pseudonymCache.RLock()
	p, ok := pseudonymCache.m[tenant]
	pseudonymCache.RUnlock()
	if ok {
		return p
	}
	p = PseudonymWithKey(*k, tenant)
	pseudonymCache.Lock()
	if len(pseudonymCache.m) < maxCachedPseudonyms {
		pseudonymCache.m[tenant] = p
	}
	pseudonymCache.Unlock()
	return p
}

// PseudonymWithKey is tenant's pseudonym under key: what an administrator
// (or a test) holding the appliance's key file computes to find a tenant's
// series on the self-metrics endpoint.
func PseudonymWithKey(key []byte, tenant string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(tenant))
	return "t-" + hex.EncodeToString(m.Sum(nil)[:8])
}

// SelfMetricTenant is the tenant attribute of a per-tenant self-metric.
func SelfMetricTenant(tenant string) attribute.KeyValue {
	return attribute.String(SelfMetricAttribute, SelfMetricPseudonym(tenant))
}

// LoadOrCreateSelfMetricKey reads the key at path, or creates a random
// 32-byte key there (mode 0600) on the first start.
func LoadOrCreateSelfMetricKey(path string) ([]byte, error) {
	key, err := secretfile.LoadOrCreate(path, 32, "self-metrics key")
	if err != nil && strings.Contains(err.Error(), "want 32 bytes") {
		err = fmt.Errorf("%w (remove the file to make a new one; per-tenant self-metric series then get new names)", err)
	}
	return key, err
}
