package scadauiextension

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"
)

// cookieName is the session cookie (HttpOnly, SameSite=Strict, Path=/).
const cookieName = "scadaui_session"

// session is one logged-in browser. The token stays in server memory only
// (never in the cookie or the page) because the trace and alert APIs are
// called over loopback with the tenant's own bearer token.
type session struct {
	tenant   string // the pool key: the tenant, or adminPool+name for an administrator
	token    string
	admin    string // an administrator's session: the administrator's name ("" for a tenant's)
	role     string // the administrator's role
	created  time.Time
	expires  time.Time
	lastSeen time.Time
}

// sessions maps SHA-256(session id) to a session: the random id itself is
// kept only by the browser. The pool is bounded per tenant and in all, and
// a tenant's logins only ever evict sessions of the tenant holding the most,
// so one tenant logging in without end cannot log out another's operators.
type sessions struct {
	mu        sync.Mutex
	m         map[[32]byte]*session
	perTenant map[string]int
	ttl       time.Duration
	idle      time.Duration // a session unused this long ends
	max       int
	maxTenant int
	now       func() time.Time
}

func newSessions(ttl, idle time.Duration, max, maxPerTenant int) *sessions {
	return &sessions{m: map[[32]byte]*session{}, perTenant: map[string]int{}, ttl: ttl, idle: idle, max: max,
		maxTenant: min(maxPerTenant, max), now: time.Now}
}

// live: not past its lifetime nor idle too long.
func (s *sessions) live(ses *session, now time.Time) bool {
	return now.Before(ses.expires) && now.Sub(ses.lastSeen) < s.idle
}

// adminPool prefixes an administrator's name as the key of its sessions'
// pool (a ':' is never in a tenant id), so administrators' logins are
// bounded per administrator like a tenant's.
const adminPool = "admin:"

// createAdmin is create for an administrator's token: its sessions open
// the administrator's views only (extension.authed refuses them).
func (s *sessions) createAdmin(name, role, token string) (string, time.Time) {
	return s.add(session{tenant: adminPool + name, token: token, admin: name, role: role})
}

// create returns a new random session id (256 bits, hex) for tenant.
func (s *sessions) create(tenant, token string) (string, time.Time) {
	return s.add(session{tenant: tenant, token: token})
}

func (s *sessions) add(proto session) (string, time.Time) {
	tenant := proto.tenant
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error()) // never happens on Linux (Go 1.24+ crypto/rand does not fail)
	}
	id := hex.EncodeToString(b[:])
	now := s.now()
	ses := &proto
	ses.created, ses.expires, ses.lastSeen = now, now.Add(s.ttl), now
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked(now)
	for s.perTenant[tenant] >= s.maxTenant {
		s.evictOldestLocked(tenant)
	}
	for len(s.m) >= s.max {
		s.evictOldestLocked(s.largestTenantLocked())
	}
	s.m[sha256.Sum256([]byte(id))] = ses
	s.perTenant[tenant]++
	return id, ses.expires
}

// largestTenantLocked is the tenant holding the most sessions; ties go to
// the smaller id, so the choice does not depend on map order.
func (s *sessions) largestTenantLocked() string {
	var most string
	for t, n := range s.perTenant {
		if n > s.perTenant[most] || (n == s.perTenant[most] && t < most) {
			most = t
		}
	}
	return most
}

func (s *sessions) evictOldestLocked(tenant string) {
	var oldest [32]byte
	var at time.Time
	for k, v := range s.m {
		if v.tenant == tenant && (at.IsZero() || v.created.Before(at)) {
			oldest, at = k, v.created
		}
	}
	s.deleteLocked(oldest)
}

func (s *sessions) deleteLocked(k [32]byte) {
	ses := s.m[k]
	if ses == nil {
		return
	}
	delete(s.m, k)
	if s.perTenant[ses.tenant]--; s.perTenant[ses.tenant] <= 0 {
		delete(s.perTenant, ses.tenant)
	}
}

// get returns the live session of id, or nil.
func (s *sessions) get(id string) *session {
	if len(id) != 64 {
		return nil
	}
	k := sha256.Sum256([]byte(id))
	s.mu.Lock()
	defer s.mu.Unlock()
	ses := s.m[k]
	if ses == nil {
		return nil
	}
	now := s.now()
	if !s.live(ses, now) {
		s.deleteLocked(k)
		return nil
	}
	ses.lastSeen = now
	return ses
}

func (s *sessions) remove(id string) {
	k := sha256.Sum256([]byte(id))
	s.mu.Lock()
	s.deleteLocked(k)
	s.mu.Unlock()
}

func (s *sessions) sweepLocked(now time.Time) {
	for k, v := range s.m {
		if !s.live(v, now) {
			s.deleteLocked(k)
		}
	}
}
