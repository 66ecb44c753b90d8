package scadauiextension

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeAlarmAPI stands for the alarm connector's operator API: it answers
// for the tenant its token names (or lies, when lie is set) and records
// the requests it got.
type fakeAlarmAPI struct {
	mu   sync.Mutex
	lie  bool
	reqs []string // method, escaped path, authorization, body
}

func (f *fakeAlarmAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, r.Method+" "+r.URL.EscapedPath()+"?"+r.URL.RawQuery+" "+r.Header.Get("Authorization")+" "+string(body))
	lie := f.lie
	f.mu.Unlock()
	tenant := map[string]string{"Bearer north-token": "north", "Bearer south-token": "south"}[r.Header.Get("Authorization")]
	if lie {
		tenant = "south"
	}
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/missing/"):
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":"alarm not found"}`))
	case r.Method == http.MethodPost:
		_, _ = w.Write([]byte(`{"alarm":{"alarm_id":"x","state":"active_acked"},"record":{"transition":"ack"}}`))
	case r.URL.Path == "/api/v1/alarms":
		_, _ = w.Write([]byte(`{"tenant":"` + tenant + `","alarms":[{"alarm_id":"PT-1:H","message":{"en":"<b>x</b>"}}]}`))
	default:
		_, _ = w.Write([]byte(`{"tenant":"` + tenant + `"}`))
	}
}

func (f *fakeAlarmAPI) last() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) == 0 {
		return ""
	}
	return f.reqs[len(f.reqs)-1]
}

func post(t *testing.T, c *http.Client, url, ctype, body string, hdr map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestAlarmProxy: the UI reads and acts on alarms through the connector's
// API with the caller's own token; an answer naming another tenant is
// refused; actions need JSON and a same-origin browser; the alarm id is
// one escaped path segment.
func TestAlarmProxy(t *testing.T) {
	fake := &fakeAlarmAPI{}
	up := httptest.NewServer(fake)
	defer up.Close()
	base := startUIWith(t, "", func(c *Config) { c.AlarmsEndpoint = up.URL })
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	require.Equal(t, http.StatusOK, login(t, c, base, "north-token").StatusCode)

	code, m, _ := getJSON(t, c, base+"/ui/api/me", nil)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, true, m["views"].(map[string]any)["alarms"])

	code, m, _ = getJSON(t, c, base+"/ui/api/alarms?active=true&tenant=south", nil)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, "north", m["tenant"])
	assert.Equal(t, "GET /api/v1/alarms?active=true Bearer north-token ", fake.last(), "only active is passed on, with the caller's token")
	code, m, _ = getJSON(t, c, base+"/ui/api/alarm-kpis", nil)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "north", m["tenant"])
	code, _, _ = getJSON(t, c, base+"/ui/api/alarm-journal?limit=5", nil)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "GET /api/v1/alarm-journal?limit=5 Bearer north-token ", fake.last())

	// Acknowledge: forwarded with the token, the id escaped as one segment.
	code, body := post(t, c, base+"/ui/api/alarms/comm:rtu%20a%3Fb/ack", "application/json", `{"reason":"crew"}`, nil)
	assert.Equal(t, http.StatusOK, code, body)
	assert.Equal(t, `POST /api/v1/alarms/comm:rtu%20a%3Fb/ack? Bearer north-token {"reason":"crew"}`, fake.last())
	code, body = post(t, c, base+"/ui/api/alarms/missing/shelve", "application/json", `{"duration":"1h","reason":"x"}`, nil)
	assert.Equal(t, http.StatusNotFound, code, "the connector's 404 is passed on")
	assert.JSONEq(t, `{"error":"alarm not found"}`, body)

	n := len(fake.reqs)
	code, _ = post(t, c, base+"/ui/api/alarms/PT-1:H/ack", "application/json", `{}`, map[string]string{"Origin": "http://evil.example"})
	assert.Equal(t, http.StatusForbidden, code, "cross-origin action")
	code, _ = post(t, c, base+"/ui/api/alarms/PT-1:H/ack", "application/json", `{}`, map[string]string{"Sec-Fetch-Site": "cross-site"})
	assert.Equal(t, http.StatusForbidden, code, "cross-site action")
	code, _ = post(t, c, base+"/ui/api/alarms/PT-1:H/ack", "text/plain", `{}`, nil)
	assert.Equal(t, http.StatusUnsupportedMediaType, code)
	code, _ = post(t, c, base+"/ui/api/alarms/PT-1:H/ack", "application/json", `{not json`, nil)
	assert.Equal(t, http.StatusBadRequest, code)
	code, _ = post(t, c, base+"/ui/api/alarms/PT-1:H/delete", "application/json", `{}`, nil)
	assert.Equal(t, http.StatusNotFound, code)
	code, _ = post(t, c, base+"/ui/api/alarms/PT-1:H/ack", "application/json", `{"reason":"`+strings.Repeat("x", 17<<10)+`"}`, nil)
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Len(t, fake.reqs, n, "refused actions never reach the connector")

	// Without a session: 401, nothing forwarded.
	code, _ = post(t, http.DefaultClient, base+"/ui/api/alarms/PT-1:H/ack", "application/json", `{}`, nil)
	assert.Equal(t, http.StatusUnauthorized, code)
	assert.Len(t, fake.reqs, n)

	// An upstream answer naming another tenant is never shown.
	fake.mu.Lock()
	fake.lie = true
	fake.mu.Unlock()
	for _, p := range []string{"/ui/api/alarms", "/ui/api/alarm-kpis", "/ui/api/alarm-journal"} {
		code, m, _ = getJSON(t, c, base+p, nil)
		assert.Equal(t, http.StatusBadGateway, code, p)
		raw, _ := json.Marshal(m)
		assert.NotContains(t, string(raw), "PT-1", p)
	}
}

// TestAlarmViewsOff: with alarms_endpoint empty the views are off.
func TestAlarmViewsOff(t *testing.T) {
	base := startUIWith(t, "", func(c *Config) { c.AlarmsEndpoint = "" })
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	require.Equal(t, http.StatusOK, login(t, c, base, "north-token").StatusCode)
	code, m, _ := getJSON(t, c, base+"/ui/api/me", nil)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, false, m["views"].(map[string]any)["alarms"])
	code, m, _ = getJSON(t, c, base+"/ui/api/alarms", nil)
	assert.Equal(t, http.StatusNotFound, code)
	assert.Contains(t, m["error"], "alarms_endpoint")
}
