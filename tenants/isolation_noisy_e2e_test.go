//go:build e2e

package tenants_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"

	"github.com/scadaotel/scadaotel/extensions/tenantauthextension"
	"github.com/scadaotel/scadaotel/internal/e2e"
)

// queryRetryAfter runs a PromQL query for bearer and returns the status and
// the Retry-After header.
func queryRetryAfter(t *testing.T, base string, q url.Values, bearer string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/api/v1/query?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", bearer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

// manySeries is n points of metric name, each its own series (label id).
func manySeries(name string, from, n int, at time.Time) pmetric.Metrics {
	md := pmetric.NewMetrics()
	m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName(name)
	dps := m.SetEmptyGauge().DataPoints()
	dps.EnsureCapacity(n)
	for i := range n {
		dp := dps.AppendEmpty()
		dp.SetDoubleValue(float64(i))
		dp.SetTimestamp(pcommon.NewTimestampFromTime(at))
		dp.Attributes().PutStr("id", fmt.Sprint(from+i))
	}
	return md
}

// TestNoisyNeighbourSeriesAndQueries (issue 19, point 9): with the default
// limits, tenant A (west) cannot write an unbounded number of series, and
// A at its limits (refused writes; heavy queries in a loop from 8 clients,
// held to its query slots and query time; every client of A retries when
// Retry-After says, as OTel SDKs and Prometheus clients do) leaves B's
// (east's) write and query p50 within 1.5× of B alone.
func TestNoisyNeighbourSeriesAndQueries(t *testing.T) {
	jaeger := e2e.StartJaeger(t)
	a := startAppliance(t, jaeger, tenantsYAML("", eastToken))
	bearerW, bearerE := "Bearer "+westToken, "Bearer "+eastToken
	base := "http://" + a.promAddr
	now := time.Now()

	// A writes new series until refused: the default active_series bound.
	limit := tenantauthextension.DefaultLimits.ActiveSeries
	const batch = 10_000
	accepted, refusal := 0, ""
	for from := 0; from < 3*limit; from += batch {
		code, body := a.postMetrics(t, manySeries("a_series", from, batch, now), "Authorization", bearerW)
		if code == http.StatusOK {
			accepted += batch
			continue
		}
		if code != http.StatusTooManyRequests {
			t.Fatalf("A's series batch at %d: HTTP %d %s", from, code, body)
		}
		refusal = body
		break
	}
	if refusal == "" || accepted > limit {
		t.Fatalf("A wrote %d series unrefused (default active_series %d)", accepted, limit)
	}
	if !strings.Contains(refusal, "active_series") {
		t.Errorf("A's refusal does not name the limit: %s", refusal)
	}
	t.Logf("A: %d series accepted, then refused: %.200s", accepted, refusal)

	// B's write and query latency, alone.
	bWrite := func(i int) time.Duration {
		start := time.Now()
		code, body := a.postMetrics(t, manySeries("b_pressure", 0, 20, time.Now()), "Authorization", bearerE)
		if code != http.StatusOK {
			t.Fatalf("B's write %d: HTTP %d %s", i, code, body)
		}
		return time.Since(start)
	}
	bQuery := func(i int) time.Duration {
		start := time.Now()
		code, body := query(t, base, "/api/v1/query", url.Values{"query": {"sum(b_pressure)"}}, "Authorization", bearerE)
		if code != http.StatusOK {
			t.Fatalf("B's query %d: HTTP %d %s", i, code, body)
		}
		return time.Since(start)
	}
	bWrite(-1)
	e2e.Eventually(t, 10*time.Second, func() error {
		if len(promVector(t, base, "sum(b_pressure)", time.Now(), bearerE)) != 1 {
			return fmt.Errorf("B's series not queryable yet")
		}
		return nil
	})

	aBody, err := pmetricotlp.NewExportRequestFromMetrics(manySeries("a_more", 1_000_000, 1000, time.Now())).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	// A at its limits: 8 clients of heavy queries over its 200,000 series,
	// and 2 writers of new series (refused), without pause, switched on and
	// off in alternating phases so that whatever else the machine does
	// weighs on B alone and B beside A alike.
	var active atomic.Bool
	var inFlight sync.WaitGroup
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	const nq, nw = 8, 2
	for i := range nq + nw {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				if !active.Load() {
					time.Sleep(5 * time.Millisecond)
					continue
				}
				inFlight.Add(1)
				var code int
				var retryAfter string
				if i < nq {
					code, retryAfter = queryRetryAfter(t, base, url.Values{"query": {`count_over_time({__name__=~"a_.*"}[1h])`}}, bearerW)
				} else {
					// New series every time would be refused the same way:
					// one body, so the test's own CPU goes to the appliance.
					r := a.postOTLP(t, "/v1/metrics", aBody, "Authorization", bearerW)
					code, retryAfter = r.code, r.retryAfter
				}
				inFlight.Done()
				mu.Lock()
				codes[code]++
				mu.Unlock()
				// A uses all it is allowed and retries when told to, as
				// OTel SDKs and Prometheus clients do (at most 2 s here, so
				// it is back at its limit in each busy phase). A client
				// that ignores Retry-After is measured separately below.
				if code == http.StatusTooManyRequests {
					secs, _ := strconv.Atoi(retryAfter)
					time.Sleep(min(time.Duration(max(secs, 1))*time.Second, 2*time.Second))
				}
			}
		}()
	}
	// A first runs long enough to spend its query-time burst: at its limit.
	active.Store(true)
	time.Sleep(8 * time.Second)
	var writeAlone, writeBusy, queryAlone, queryBusy []time.Duration
	for round := range 8 {
		busy := round%2 == 1
		active.Store(busy)
		if busy {
			time.Sleep(300 * time.Millisecond) // A's queries under way
		} else {
			inFlight.Wait() // none of A's requests left
		}
		for i := range 15 {
			w, q := bWrite(i), bQuery(i)
			if busy {
				writeBusy, queryBusy = append(writeBusy, w), append(queryBusy, q)
			} else {
				writeAlone, queryAlone = append(writeAlone, w), append(queryAlone, q)
			}
			time.Sleep(10 * time.Millisecond) // a dashboard's pace, not a flood of B's own
		}
	}
	active.Store(false)
	close(stop)
	wg.Wait()
	wA, wB, qA, qB := median(writeAlone), median(writeBusy), median(queryAlone), median(queryBusy)
	t.Logf("B alone: write p50 %s, query p50 %s; with A at its limits: write p50 %s, query p50 %s; A's answers by status: %v",
		wA, qA, wB, qB, codes)
	if wB > wA*3/2 {
		t.Errorf("B's write p50 %s with A at its limits, %s alone: over 1.5×", wB, wA)
	}
	if qB > qA*3/2 {
		t.Errorf("B's query p50 %s with A at its limits, %s alone: over 1.5×", qB, qA)
	}
	if codes[http.StatusTooManyRequests] == 0 {
		t.Errorf("A was never refused at its limits: %v", codes)
	}
}
