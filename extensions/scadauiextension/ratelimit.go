package scadauiextension

import (
	"math"
	"net"
	"net/http"
	"sync"
	"time"
)

// maxBuckets bounds the keys (client addresses or tenants) a bucket set
// remembers; idle (full) buckets are forgotten first.
const maxBuckets = 10000

// buckets is a set of token buckets, one per key: capacity n, refilled at n
// per period. A key that is not in the map has a full bucket.
type buckets struct {
	mu     sync.Mutex
	n      float64
	period time.Duration
	m      map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newBuckets(n int, period time.Duration) *buckets {
	return &buckets{n: float64(n), period: period, m: map[string]*bucket{}}
}

// refill brings b up to now and returns its tokens.
func (s *buckets) refill(b *bucket, now time.Time) float64 {
	if d := now.Sub(b.at); d > 0 {
		b.tokens = math.Min(s.n, b.tokens+s.n*d.Seconds()/s.period.Seconds())
		b.at = now
	}
	return b.tokens
}

func (s *buckets) waitLocked(b *bucket, now time.Time) time.Duration {
	t := s.refill(b, now)
	if t >= 1 {
		return 0
	}
	return time.Duration(math.Ceil((1 - t) * s.period.Seconds() / s.n * float64(time.Second)))
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
		b = &bucket{tokens: s.n, at: now}
		s.m[key] = b
	}
	if w := s.waitLocked(b, now); w > 0 {
		return w
	}
	b.tokens--
	return 0
}

// evictLocked forgets full buckets; if none is full, the one refilled
// longest ago.
func (s *buckets) evictLocked(now time.Time) {
	var oldest string
	var at time.Time
	for k, b := range s.m {
		if s.refill(b, now) >= s.n {
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
