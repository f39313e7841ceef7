// Package journald formats slog records for systemd's journal when the
// daemon's stderr is a journal stream: no timestamp (the journal adds its
// own) and a "<N>" syslog priority prefix per line, so that
// journalctl -p err shows the errors.
package journald

import (
	"context"
	"io"
	"log/slog"
	"sync"

	"github.com/coreos/go-systemd/v22/journal"
)

// StderrIsJournal reports whether stderr is connected to the journal:
// JOURNAL_STREAM is set and names stderr's device and inode, as
// systemd.exec(5) recommends checking (a child that inherits the variable
// but not the stream does not match).
func StderrIsJournal() bool {
	ok, err := journal.StderrIsJournalStream()
	return ok && err == nil
}

// Priority returns the syslog priority of a slog level: 7 debug, 6 info,
// 4 warning, 3 error.
func Priority(l slog.Level) int {
	switch {
	case l < slog.LevelInfo:
		return 7
	case l < slog.LevelWarn:
		return 6
	case l < slog.LevelError:
		return 4
	default:
		return 3
	}
}

// prefixWriter writes one record with its priority prefix in one Write.
type prefixWriter struct {
	mu     sync.Mutex // held from Handle through the inner handler's Write
	w      io.Writer
	prefix []byte
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(append(p.buf[:0], p.prefix...), b...)
	if _, err := p.w.Write(p.buf); err != nil {
		return 0, err
	}
	return len(b), nil
}

// Handler is a slog.Handler for the journal; see the package comment.
type Handler struct {
	inner slog.Handler
	pw    *prefixWriter
}

// NewHandler returns a Handler writing to w (stderr) in text, or in JSON
// when json is true. opts works as for slog's own handlers; the time
// attribute is always left out.
func NewHandler(w io.Writer, json bool, opts *slog.HandlerOptions) *Handler {
	o := slog.HandlerOptions{}
	if opts != nil {
		o = *opts
	}
	replace := o.ReplaceAttr
	o.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		if replace != nil {
			return replace(groups, a)
		}
		return a
	}
	pw := &prefixWriter{w: w}
	var inner slog.Handler = slog.NewTextHandler(pw, &o)
	if json {
		inner = slog.NewJSONHandler(pw, &o)
	}
	return &Handler{inner: inner, pw: pw}
}

// Enabled implements slog.Handler.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	h.pw.mu.Lock()
	defer h.pw.mu.Unlock()
	h.pw.prefix = append(h.pw.prefix[:0], '<', byte('0'+Priority(r.Level)), '>')
	return h.inner.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	return &Handler{inner: h.inner.WithAttrs(as), pw: h.pw}
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{inner: h.inner.WithGroup(name), pw: h.pw}
}
