package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/monsta/monsta/runtime"
	"github.com/monsta/monsta/runtime/control"
	"github.com/monsta/monsta/runtime/metrics"
	"github.com/monsta/monsta/runtime/silence"
	"github.com/monsta/monsta/runtime/statedir"
)

// controlPlane is the daemon's control API: the unix socket, the optional
// HTTP listener, the silences and the metrics.
type controlPlane struct {
	srv      *control.Server
	metrics  *metrics.Metrics
	silences *silence.Store
	tcp      net.Listener // nil when [main] listen is empty
	token    string
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// listenTCP opens [main] listen and reads the token, before privileges are
// dropped (a low port, a token file only root may read).
func listenTCP(m runtime.Main) (*controlPlane, error) {
	c := &controlPlane{}
	if m.TokenFile != "" {
		tok, err := control.ReadToken(m.TokenFile)
		if err != nil {
			return nil, err
		}
		c.token = tok
	}
	if m.Listen != "" {
		l, err := net.Listen("tcp", m.Listen)
		if err != nil {
			return nil, fmt.Errorf("[main] listen: %w", err)
		}
		c.tcp = l
	}
	return c, nil
}

// start opens the silences and the socket and serves both listeners.
func (c *controlPlane) start(m runtime.Main, sd *statedir.Dir, logger *slog.Logger) error {
	sil, err := silence.Open(sd.Path(), time.Now)
	if sil == nil {
		return err
	}
	if err != nil {
		logger.Error("silences", "err", err)
	}
	c.silences = sil
	c.metrics = metrics.New(c.engine, version)
	c.srv = control.New(control.Options{
		Silences: sil, Failed: sd.Failures, Metrics: c.metrics, Logger: logger,
		Version: version, Host: m.Hostname,
	})
	sock, err := control.ListenSocket(control.SocketPath(sd.Path()))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	serve := func(l net.Listener, requireToken bool) {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			if err := control.Serve(ctx, l, c.srv.Handler(requireToken, c.token)); err != nil {
				logger.Error("control API stopped", "addr", l.Addr().String(), "err", err)
			}
		}()
	}
	serve(sock, false)
	logger.Info("control socket listening", "path", control.SocketPath(sd.Path()))
	if c.tcp != nil {
		serve(c.tcp, true)
		logger.Info("HTTP API listening", "addr", c.tcp.Addr().String(), "changes", map[bool]string{true: "need the bearer token", false: "refused (no token_file)"}[c.token != ""])
	}
	return nil
}

func (c *controlPlane) engine() *runtime.Engine {
	if c.srv == nil {
		return nil
	}
	return c.srv.Engine()
}

// engineOptions adds the gate (silences and the plan's maintenance
// windows) and the lateness histogram to o.
func (c *controlPlane) engineOptions(o runtime.EngineOptions, plan *runtime.Plan) runtime.EngineOptions {
	o.Gate = runtime.Gates{c.silences, plan.Maintenance}
	o.OnCheckStart = c.metrics.ObserveLateness
	return o
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
