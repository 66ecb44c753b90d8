package scadauiextension

import (
	"math"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxBuckets bounds the keys (client addresses or tenants) a bucket set
// remembers; idle (full) buckets are forgotten first.
const maxBuckets = 10000

// buckets is a set of token buckets (golang.org/x/time/rate limiters), one
// per key: capacity n, refilled evenly at n per period. A key that is not
// in the map has a full bucket.
type buckets struct {
	mu    sync.Mutex
	n     int
	limit rate.Limit
	m     map[string]*bucket
}

type bucket struct {
	lim *rate.Limiter
	at  time.Time // last take: the eviction order
}

func newBuckets(n int, period time.Duration) *buckets {
	return &buckets{n: n, limit: rate.Limit(float64(n) / period.Seconds()), m: map[string]*bucket{}}
}

// take takes one token of key; if there is none it takes nothing and
// returns how long to wait for one.
func (s *buckets) take(key string, now time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.m[key]
	if b == nil {
		if len(s.m) >= maxBuckets {
			s.evictLocked(now)
		}
		b = &bucket{lim: rate.NewLimiter(s.limit, s.n)}
		s.m[key] = b
	}
	b.at = now
	if b.lim.AllowN(now, 1) {
		return 0
	}
	// A refused AllowN takes nothing; the wait is until one whole token.
	missing := 1 - b.lim.TokensAt(now)
	return time.Duration(math.Ceil(missing / float64(s.limit) * float64(time.Second)))
}

// evictLocked forgets full buckets; if none is full, the one taken from
// longest ago.
func (s *buckets) evictLocked(now time.Time) {
	var oldest string
	var at time.Time
	for k, b := range s.m {
		if b.lim.TokensAt(now) >= float64(s.n) {
			delete(s.m, k)
			continue
		}
		if oldest == "" || b.at.Before(at) {
			oldest, at = k, b.at
		}
	}
	if len(s.m) >= maxBuckets {
		delete(s.m, oldest)
	}
}

// loginLimiter bounds login attempts per client address (every attempt,
// right or wrong, checked before the token is) and accepted logins per
// tenant (a leaked or scripted token cannot churn the shared session pool
// and log out other operators).
type loginLimiter struct {
	cfg       LoginLimitConfig
	byAddress *buckets
	byTenant  *buckets
}

func newLoginLimiter(cfg LoginLimitConfig) *loginLimiter {
	return &loginLimiter{cfg: cfg, byAddress: newBuckets(cfg.PerAddress, cfg.Period), byTenant: newBuckets(cfg.PerTenant, cfg.Period)}
}

// clientAddress is the limiter's key of a request: the peer's IP (an IPv6
// client by its /64, which one host usually owns whole). Forwarding headers
// are not trusted.
func clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return host
	}
	if ip.To4() == nil {
		return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	return ip.String()
}

// retryAfterSeconds is a Retry-After value: whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
