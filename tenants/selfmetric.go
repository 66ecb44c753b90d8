package tenants

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
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
	m := hmac.New(sha256.New, *k)
	m.Write([]byte(tenant))
	p = "t-" + hex.EncodeToString(m.Sum(nil)[:8])
	pseudonymCache.Lock()
	if len(pseudonymCache.m) < maxCachedPseudonyms {
		pseudonymCache.m[tenant] = p
	}
	pseudonymCache.Unlock()
	return p
}

// SelfMetricTenant is the tenant attribute of a per-tenant self-metric.
func SelfMetricTenant(tenant string) attribute.KeyValue {
	return attribute.String(SelfMetricAttribute, SelfMetricPseudonym(tenant))
}

// LoadOrCreateSelfMetricKey reads the key at path, or creates a random
// 32-byte key there (mode 0600) on the first start.
func LoadOrCreateSelfMetricKey(path string) ([]byte, error) {
	key, err := os.ReadFile(path)
	switch {
	case err == nil && len(key) == 32:
		return key, nil
	case err == nil:
		return nil, fmt.Errorf("self-metrics key %s: want 32 bytes, got %d (remove the file to make a new one; per-tenant self-metric series then get new names)", path, len(key))
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("self-metrics key: %w", err)
	}
	key = make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("self-metrics key: %w", err)
	}
	if err := WriteFileAtomic(path, key, 0o600); err != nil {
		return nil, fmt.Errorf("self-metrics key: %w", err)
	}
	return key, nil
}
