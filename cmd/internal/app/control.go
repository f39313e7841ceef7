package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"

	"github.com/monsta/monsta/runtime"
	"github.com/monsta/monsta/runtime/control"
	"github.com/monsta/monsta/runtime/metrics"
	"github.com/monsta/monsta/runtime/statedir"
)

// controlPlane serves the control API of the daemon: on the unix socket in
// the state directory always, and on [main] listen when set. A reload may
// swap either listener and the handlers (a new state directory, a new
// listen address or token) without a moment with none.
type controlPlane struct {
	metrics *metrics.Metrics
	sock    *endpoint // nil until serve
	tcp     *endpoint // nil when [main] listen is empty
	tcpAddr string    // the [main] listen that tcp was opened for
	token   string
}

// endpoint is one listener, served with a handler that can be swapped.
type endpoint struct {
	l      net.Listener
	h      atomic.Pointer[http.Handler]
	cancel context.CancelFunc
	done   chan struct{}
}

// newEndpoint wraps l; serve it with start.
func newEndpoint(l net.Listener) *endpoint { return &endpoint{l: l} }

// start serves the endpoint until close.
func (e *endpoint) start(h http.Handler, logger *slog.Logger) {
	e.h.Store(&h)
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan struct{})
	go func() {
		defer close(e.done)
		err := control.Serve(ctx, e.l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			(*e.h.Load()).ServeHTTP(w, r)
		}))
		if err != nil {
			logger.Error("control API stopped", "addr", e.l.Addr().String(), "err", err)
		}
	}()
}

// swap serves h from now on.
func (e *endpoint) swap(h http.Handler) { e.h.Store(&h) }

// close stops serving and closes the listener.
func (e *endpoint) close() {
	if e == nil {
		return
	}
	if e.cancel == nil {
		e.l.Close()
		return
	}
	e.cancel()
	<-e.done
}

// listen opens [main] listen and reads token_file: the daemon does it
// before it drops privileges (a low port, a token only root may read).
func (a *App) listen() error {
	m := a.Main()
	a.ctl = &controlPlane{metrics: metrics.New(a.Engine, a.daemon.Version)}
	a.ctl.metrics.Registry().MustRegister(statedir.Collector(a.StateDir))
	tok, tcp, err := openTCP(m)
	if err != nil {
		return err
	}
	a.ctl.token, a.ctl.tcpAddr = tok, m.Listen
	if tcp != nil {
		a.ctl.tcp = newEndpoint(tcp)
	}
	a.onClose(func() { a.ctl.sock.close(); a.ctl.tcp.close() })
	return nil
}

// openTCP reads m's token_file and opens its listen address (nil when
// empty). A token that cannot be read is a *SetupError: a restart would
// not find it either.
func openTCP(m runtime.Main) (token string, l net.Listener, err error) {
	if m.TokenFile != "" {
		if token, err = control.ReadToken(m.TokenFile); err != nil {
			return "", nil, &SetupError{err}
		}
	}
	if m.Listen != "" {
		if l, err = net.Listen("tcp", m.Listen); err != nil {
			return "", nil, fmt.Errorf("[main] listen: %w", err)
		}
	}
	return token, l, nil
}

// handlers builds the control API's server over the state directory and
// silences in use now, and the handlers of the socket and of the TCP
// listener (whose changes need the token).
func (a *App) handlers() (sock, tcp http.Handler) {
	m := a.Main()
	srv := control.New(control.Options{
		Engine: a.Engine, Silences: a.Silences(), Failed: a.StateDir().Failures, Metrics: a.ctl.metrics,
		Logger: a.Logger(), Version: a.daemon.Version, Host: m.Hostname,
		AtRisk: func() (int, error) { return a.StateDir().AtRisk() },
		// The store of Start; how reports count and the SLA targets are
		// the generation's, and change with a reload.
		History: a.History(), Accounting: accounting(m), SLA: slaTargets(a.Plan()),
	})
	return srv.Handler(false, ""), srv.Handler(true, a.ctl.token)
}

// serve opens the socket (as the daemon's user, after Start) and serves
// both listeners.
func (a *App) serve() error {
	path := control.SocketPath(a.StateDir().Path())
	sock, err := control.ListenSocket(path)
	if err != nil {
		return err
	}
	a.ctl.sock = newEndpoint(sock)
	hs, ht := a.handlers()
	logger := a.Logger()
	a.ctl.sock.start(hs, logger)
	logger.Info("control socket listening", "path", path)
	if a.ctl.tcp != nil {
		a.ctl.tcp.start(ht, logger)
		logTCP(logger, a.ctl.tcp, a.ctl.token)
	}
	return nil
}

// logTCP says where the HTTP API listens and what changes need.
func logTCP(logger *slog.Logger, e *endpoint, token string) {
	changes := "refused (no token_file)"
	if token != "" {
		changes = "need the bearer token"
	}
	logger.Info("HTTP API listening", "addr", e.l.Addr().String(), "changes", changes)
}

// Metrics returns the daemon's metrics, nil unless Daemon runs.
func (a *App) Metrics() *metrics.Metrics {
	if a.ctl == nil {
		return nil
	}
	return a.ctl.metrics
}
