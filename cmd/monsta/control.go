package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/monsta/monsta/cmd/internal/app"
	"github.com/monsta/monsta/runtime"
	"github.com/monsta/monsta/runtime/control"
	"github.com/monsta/monsta/runtime/engine"
	"github.com/monsta/monsta/runtime/metrics"
	"github.com/monsta/monsta/runtime/statedir"
)

// controlPlane serves the control API of a running app: on the unix socket
// in the state directory always, and on [main] listen when set.
type controlPlane struct {
	app     *app.App // set before start
	metrics *metrics.Metrics
	tcp     net.Listener // nil when [main] listen is empty
	token   string
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// newControlPlane makes the metrics, which the app's engine feeds from its
// first run (OnCheckStart).
func newControlPlane() *controlPlane {
	c := &controlPlane{}
	c.metrics = metrics.New(c.engine, version)
	return c
}

func (c *controlPlane) engine() *engine.Engine {
	if c.app == nil {
		return nil
	}
	return c.app.Engine()
}

// listenTCP opens [main] listen and reads token_file, before privileges
// are dropped (a low port, a token only root may read).
func (c *controlPlane) listenTCP(m runtime.Main) error {
	if m.TokenFile != "" {
		tok, err := control.ReadToken(m.TokenFile)
		if err != nil {
			return err
		}
		c.token = tok
	}
	if m.Listen != "" {
		l, err := net.Listen("tcp", m.Listen)
		if err != nil {
			return fmt.Errorf("[main] listen: %w", err)
		}
		c.tcp = l
	}
	return nil
}

// start opens the socket (as the daemon's user, after Start) and serves
// both listeners.
func (c *controlPlane) start(a *app.App, logger *slog.Logger) error {
	c.app = a
	m := a.Main()
	srv := control.New(control.Options{
		Engine: a.Engine, Silences: a.Silences(), Failed: a.StateDir().Failures, Metrics: c.metrics,
		Logger: logger, Version: version, Host: m.Hostname,
		AtRisk: func() (int, error) { return a.StateDir().AtRisk() },
	})
	c.metrics.Registry().MustRegister(statedir.Collector(a.StateDir))
	path := control.SocketPath(a.StateDir().Path())
	sock, err := control.ListenSocket(path)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	serve := func(l net.Listener, requireToken bool) {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			if err := control.Serve(ctx, l, srv.Handler(requireToken, c.token)); err != nil {
				logger.Error("control API stopped", "addr", l.Addr().String(), "err", err)
			}
		}()
	}
	serve(sock, false)
	logger.Info("control socket listening", "path", path)
	if c.tcp != nil {
		serve(c.tcp, true)
		changes := "refused (no token_file)"
		if c.token != "" {
			changes = "need the bearer token"
		}
		logger.Info("HTTP API listening", "addr", c.tcp.Addr().String(), "changes", changes)
	}
	return nil
}

// close stops the listeners.
func (c *controlPlane) close() {
	if c.cancel != nil {
		c.cancel()
		c.wg.Wait()
	} else if c.tcp != nil {
		c.tcp.Close()
	}
}
