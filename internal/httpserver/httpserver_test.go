package httpserver

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"go.uber.org/zap"
)

func TestStartShutdown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })}
	s := Start("test", srv, ln, nil, zap.NewNop())
	c := &http.Client{Transport: &http.Transport{}}
	resp, err := c.Get("http://" + s.Addr() + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	c.CloseIdleConnections()
	if string(b) != "ok" {
		t.Errorf("body %q", b)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	var never *Server
	if err := never.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestStartFillsTimeoutsAndCapsTheListener: zero timeouts get the
// defaults (the read timeout never shorter than the write timeout, since
// net/http cancels a running handler's context at the read deadline), set
// ones are kept, and the listener is capped.
func TestStartFillsTimeoutsAndCapsTheListener(t *testing.T) {
	type timeouts struct{ header, read, write, idle time.Duration }
	for _, tc := range []struct{ in, want timeouts }{
		{timeouts{}, timeouts{ReadHeaderTimeout, ReadTimeout, 0, IdleTimeout}},
		{timeouts{write: 3 * time.Minute}, timeouts{ReadHeaderTimeout, 3 * time.Minute, 3 * time.Minute, IdleTimeout}},
		{timeouts{time.Second, 2 * time.Second, 0, 3 * time.Second}, timeouts{time.Second, 2 * time.Second, 0, 3 * time.Second}},
	} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{ReadHeaderTimeout: tc.in.header, ReadTimeout: tc.in.read, WriteTimeout: tc.in.write, IdleTimeout: tc.in.idle}
		s := StartLimited("test", srv, ln, 1, nil, zap.NewNop())
		if got := (timeouts{srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout}); got != tc.want {
			t.Errorf("timeouts %+v, want %+v", got, tc.want)
		}
		if err := s.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}
