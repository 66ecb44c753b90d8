//go:build e2e

package tenants_test

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scadaotel/scadaotel/internal/e2e"
)

// floodDuration is scaled down for CI; `go test -tags bench` runs the full
// 60 s (flood_long_test.go).
var floodDuration = 6 * time.Second

const (
	floodLimit   = 200 // west's spans_per_second
	floodPerReq  = 50  // spans per request
	normalPerReq = 10
)

// TestFloodIsolation: tenant A (west) sends 10x its spans_per_second limit
// while tenant B (east) sends at a normal rate, through the real binary into
// Jaeger. All of B's spans are stored, A gets clear 429s with a retry hint,
// and A's accepted volume stays within its limit.
func TestFloodIsolation(t *testing.T) {
	jaeger := e2e.StartJaeger(t)
	a := startAppliance(t, jaeger, tenantsYAML(fmt.Sprintf("spans_per_second: %d", floodLimit), eastToken))

	// B alone for as long as the flood, so both p99s come from as many requests.
	alone := a.runB(t, floodDuration)
	aloneP99 := alone.p99

	var (
		wg                          sync.WaitGroup
		mu                          sync.Mutex
		aOK, a429, aSpansOK, aOther int
		a429Body, aRetryAfter       string
		stop                        = make(chan struct{})
	)
	// A: 10x its limit = 2000 spans/s, as 40 requests/s of 50 spans (4 senders).
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				r := a.postHTTP(t, traces(t, "a-flood", "flood", newTraceID(t), floodPerReq, nil, nil), "Authorization", "Bearer "+westToken)
				mu.Lock()
				switch r.code {
				case 200:
					aOK++
					aSpansOK += floodPerReq
				case 429:
					a429++
					a429Body, aRetryAfter = r.body, r.retryAfter
				default:
					aOther++
				}
				mu.Unlock()
			}
		}()
	}
	start := time.Now()
	b := a.runB(t, floodDuration)
	close(stop)
	wg.Wait()
	elapsed := time.Since(start)

	t.Logf("A: %d accepted (%d spans), %d refused with 429, %d other; B: %d requests, p99 %v alone, %v during the flood (%.2fx)",
		aOK, aSpansOK, a429, aOther, b.sent, aloneP99, b.p99, float64(b.p99)/float64(aloneP99))
	if b.failed != 0 {
		t.Fatalf("B had %d failed requests during A's flood (first: %s)", b.failed, b.firstErr)
	}
	if a429 == 0 || !strings.Contains(a429Body, "spans_per_second") || aRetryAfter == "" {
		t.Errorf("A's refusals: %d 429s, body %q, Retry-After %q; want 429s naming spans_per_second with a retry hint", a429, a429Body, aRetryAfter)
	}
	if aOther != 0 {
		t.Errorf("A got %d answers other than 200/429", aOther)
	}
	if maxOK := int(float64(floodLimit)*elapsed.Seconds()) + floodLimit + floodPerReq; aSpansOK > maxOK {
		t.Errorf("A got %d spans accepted in %v, more than its limit allows (%d)", aSpansOK, elapsed, maxOK)
	}

	// Every span B sent (alone and during the flood) is in Jaeger.
	want := (b.sent + alone.sent) * normalPerReq
	e2e.Eventually(t, 30*time.Second, func() error {
		q := url.Values{"service": {"b-normal"}, "limit": {"100000"},
			"start": {strconv.FormatInt(time.Now().Add(-time.Hour).UnixMicro(), 10)},
			"end":   {strconv.FormatInt(time.Now().Add(time.Minute).UnixMicro(), 10)}}
		_, body := query(t, jaeger.QueryURL, "/api/traces", q)
		got := 0
		for _, tr := range decodeV1(t, body).Data {
			got += len(tr.Spans)
		}
		if got != want {
			return fmt.Errorf("B: %d spans stored, want %d", got, want)
		}
		return nil
	})
}

type bResult struct {
	sent, failed int
	firstErr     string
	p99          time.Duration
}

// runB sends tenant B's normal load (10-span requests every 100 ms) for d.
func (a *appliance) runB(t *testing.T, d time.Duration) bResult {
	var res bResult
	var lat []time.Duration
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for end := time.Now().Add(d); time.Now().Before(end); <-tick.C {
		r := a.postHTTP(t, traces(t, "b-normal", "normal", newTraceID(t), normalPerReq, nil, nil), "Authorization", "Bearer "+eastToken)
		res.sent++
		lat = append(lat, r.latency)
		if r.code != 200 {
			res.failed++
			if res.firstErr == "" {
				res.firstErr = fmt.Sprintf("%d %s", r.code, r.body)
			}
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		res.p99 = lat[min(len(lat)-1, len(lat)*99/100)]
	}
	return res
}
