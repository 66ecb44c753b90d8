package httpserver

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"

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
