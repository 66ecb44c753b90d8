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
	tenant  string
	token   string
	created time.Time
	expires time.Time
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
	max       int
	maxTenant int
	now       func() time.Time
}

func newSessions(ttl time.Duration, max, maxPerTenant int) *sessions {
	return &sessions{m: map[[32]byte]*session{}, perTenant: map[string]int{}, ttl: ttl, max: max,
		maxTenant: min(maxPerTenant, max), now: time.Now}
}

// create returns a new random session id (256 bits, hex) for tenant.
func (s *sessions) create(tenant, token string) (string, time.Time) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error()) // never happens on Linux (Go 1.24+ crypto/rand does not fail)
	}
	id := hex.EncodeToString(b[:])
	now := s.now()
	ses := &session{tenant: tenant, token: token, created: now, expires: now.Add(s.ttl)}
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
	if !s.now().Before(ses.expires) {
		s.deleteLocked(k)
		return nil
	}
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
		if !now.Before(v.expires) {
			s.deleteLocked(k)
		}
	}
}
