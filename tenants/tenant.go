// Package tenants holds what every component needs to know about a tenant:
// how its id looks, where it travels on the data, and how to read it back.
// The registry, authenticator, stamping processor, limiter and read guard
// build on this package; components that buffer or aggregate use only this
// file so that they keep the tenant without depending on authentication.
package tenants

import (
	"context"
	"fmt"
	"regexp"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

const (
	// ResourceAttribute carries the tenant on every resource. The stamping
	// processor overwrites it, so a client cannot spoof it.
	ResourceAttribute = "scada.tenant"
	// Header is the HTTP header a client may send; it must equal the tenant
	// its token selects.
	Header = "X-SCADA-Tenant"
	// MetadataKey is Header as gRPC metadata and collector client metadata
	// carry it (gRPC lower-cases header names).
	MetadataKey = "x-scada-tenant"
	// AuthAttribute is the client.AuthData attribute the authenticator sets.
	AuthAttribute = "tenant"
	// MetricLabel is the reserved series label the metrics store forces.
	MetricLabel = "scada_tenant"
	// SelfMetricAttribute is the tenant attribute of the appliance's own
	// self-metrics (never MetricLabel: that names stored series).
	SelfMetricAttribute = "tenant"
)

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// ValidID reports whether id is a well-formed tenant id.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// CheckID returns a descriptive error when id is not a well-formed tenant id.
func CheckID(id string) error {
	if !ValidID(id) {
		return fmt.Errorf("invalid tenant id %q: must match [a-z0-9][a-z0-9._-]{0,62}", id)
	}
	return nil
}

// FromResource returns the tenant stamped on a resource, or "". A resource
// can carry the key more than once (OTLP allows it, pdata keeps every
// copy): every copy must be the same string, else there is no tenant.
// Stamping leaves exactly one.
func FromResource(res pcommon.Resource) string {
	tenant, found := "", false
	for k, v := range res.Attributes().All() {
		if k != ResourceAttribute {
			continue
		}
		if v.Type() != pcommon.ValueTypeStr || found && v.Str() != tenant {
			return ""
		}
		tenant, found = v.Str(), true
	}
	return tenant
}

// SetOnResource stamps tenant on res, overwriting any client-sent value.
func SetOnResource(res pcommon.Resource, tenant string) {
	res.Attributes().PutStr(ResourceAttribute, tenant)
}

// FromContext returns the tenant an authenticator (or NewContext) put on the
// request's client info, or "" when the request carries none. Client-sent
// metadata is never trusted here: a receiver with include_metadata copies
// request headers into client metadata verbatim.
func FromContext(ctx context.Context) string {
	info := client.FromContext(ctx)
	if info.Auth == nil {
		return ""
	}
	if v, ok := info.Auth.GetAttribute(AuthAttribute).(string); ok {
		return v
	}
	return ""
}

// NewContext returns ctx carrying tenant as authenticated client info and as
// client metadata, so that components and exporter queues downstream
// (sending_queue partitioned by metadata key) see it even after an
// aggregating component re-emits the data under a new context.
func NewContext(ctx context.Context, tenant string) context.Context {
	info := client.FromContext(ctx)
	ids := identityOf(tenant)
	info.Auth = ids.auth
	hasMetadata := false
	for range info.Metadata.Keys() {
		hasMetadata = true
		break
	}
	if !hasMetadata {
		// The common case (receivers without include_metadata): the
		// tenant's metadata is immutable, so one copy serves every request.
		info.Metadata = ids.metadata
		return client.NewContext(ctx, info)
	}
	md := map[string][]string{}
	for k := range info.Metadata.Keys() {
		md[k] = info.Metadata.Get(k)
	}
	md[MetadataKey] = []string{tenant}
	info.Metadata = client.NewMetadata(md)
	return client.NewContext(ctx, info)
}

// identity is what NewContext puts on a context for a tenant, built once.
type identity struct {
	auth     client.AuthData
	metadata client.Metadata
}

var (
	identities      sync.Map // tenant id -> identity
	identitiesCount atomic.Int32
)

// maxCachedIdentities bounds the cache whatever ids reach NewContext.
const maxCachedIdentities = 4096

func identityOf(tenant string) identity {
	if v, ok := identities.Load(tenant); ok {
		return v.(identity)
	}
	ids := identity{auth: AuthData(tenant), metadata: client.NewMetadata(map[string][]string{MetadataKey: {tenant}})}
	if !ValidID(tenant) || identitiesCount.Load() >= maxCachedIdentities {
		return ids
	}
	v, loaded := identities.LoadOrStore(tenant, ids)
	if !loaded {
		identitiesCount.Add(1)
	}
	return v.(identity)
}

// AuthData is the client.AuthData of an authenticated tenant.
type AuthData string

// GetAttribute implements client.AuthData.
func (a AuthData) GetAttribute(name string) any {
	if name == AuthAttribute {
		return string(a)
	}
	return nil
}

// GetAttributeNames implements client.AuthData.
func (a AuthData) GetAttributeNames() []string { return []string{AuthAttribute} }
