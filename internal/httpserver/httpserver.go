// Package httpserver runs a component's HTTP server: it serves on a listener
// in a goroutine, logs a failure (and reports it to the host as a fatal
// component status), and Shutdown waits until that goroutine has ended.
package httpserver

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.uber.org/zap"

	"github.com/scadaotel/scadaotel/internal/connguard"
)

// Server is an *http.Server serving in its own goroutine.
type Server struct {
	srv  *http.Server
	addr string
	done chan struct{}
}

// Timeouts an owned server gets where its own are zero: a client that
// sends its headers slowly, or its body, or keeps an idle connection, does
// not hold a connection (and a file descriptor) longer than this.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = time.Minute
	IdleTimeout       = time.Minute
)

// Start serves srv on ln until Shutdown. A failure other than the server
// being closed is logged as "<name> server failed" and, when host is not
// nil, reported as a fatal error event. ln is capped (connguard.Limit,
// maxConns <= 0: connguard.DefaultMaxConnections, within the process-wide
// budget) and srv's zero timeouts get the defaults above.
func Start(name string, srv *http.Server, ln net.Listener, host component.Host, logger *zap.Logger) *Server {
	return StartLimited(name, srv, ln, 0, host, logger)
}

// StartLimited is Start with the listener's own connection cap.
func StartLimited(name string, srv *http.Server, ln net.Listener, maxConns int, host component.Host, logger *zap.Logger) *Server {
	if srv.ReadHeaderTimeout <= 0 {
		srv.ReadHeaderTimeout = ReadHeaderTimeout
	}
	if srv.ReadTimeout <= 0 {
		// net/http cancels a request's context when the read deadline
		// passes while its handler still runs: never shorter than the
		// time the server allows for the response.
		srv.ReadTimeout = max(ReadTimeout, srv.WriteTimeout)
	}
	if srv.IdleTimeout <= 0 {
		srv.IdleTimeout = IdleTimeout
	}
	switch ln.(type) {
	case *connguard.Listener, *tlsOverCap: // capped by Listen or ListenHTTP
	default:
		ln = connguard.Limit(ln, maxConns)
	}
	s := &Server{srv: srv, addr: ln.Addr().String(), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error(name+" server failed", zap.Error(err))
			if host != nil {
				componentstatus.ReportStatus(host, componentstatus.NewFatalErrorEvent(err))
			}
		}
	}()
	return s
}

// Addr is the address listened on.
func (s *Server) Addr() string { return s.addr }

// Shutdown stops the server gracefully (http.Server.Shutdown) and waits
// until its goroutine has ended. A nil Server (never started) is a no-op.
func (s *Server) Shutdown(ctx context.Context) error {
	if s == nil {
		return nil
	}
	err := s.srv.Shutdown(ctx)
	<-s.done
	return err
}
