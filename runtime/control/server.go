// Package control serves the running daemon's state and takes its
// commands: the JSON API under /api/v1/, the Prometheus metrics at
// /metrics and the status page at /. The same handler serves the unix
// socket in the state directory (guarded by its file mode) and, when
// configured, a TCP listener, where changes need a bearer token.
package control

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/monsta/monsta/runtime"
	"github.com/monsta/monsta/runtime/engine"
	"github.com/monsta/monsta/runtime/history"
	"github.com/monsta/monsta/runtime/silence"
	"github.com/monsta/monsta/runtime/statedir"
)

// Options configure a Server.
type Options struct {
	// Engine returns the engine of the moment (it changes on reload; nil
	// while starting).
	Engine   func() *engine.Engine
	Silences *silence.Store
	// Failed lists notifications given up for good (the state directory's
	// failed folder); nil: none.
	Failed func() []statedir.Failure
	// AtRisk says how many accepted pages are only in memory, their
	// outbox files not written (statedir's AtRisk); nil: none.
	AtRisk func() (int, error)
	// Metrics serves /metrics; nil: 404.
	Metrics http.Handler
	Logger  *slog.Logger
	Version string
	Host    string // shown in the status page's title
	// Refresh is the status page's reload interval (0: 30 s).
	Refresh time.Duration
	// History reads the history store; nil: history is off, and every
	// history surface (page, API, badges) says so instead of failing.
	History history.Reader
	// Accounting says how maintenance counts and the time zone of days
	// and months ([main] history_maintenance, history_timezone).
	Accounting history.Accounting
	// SLA returns a test's target in percent ([Test_] sla), 0 for none;
	// nil: no test has one.
	SLA func(test string) float64
	// Now is the time when no engine runs (the command line reading the
	// history database itself); nil: time.Now.
	Now func() time.Time
}

// Server holds what the handlers read.
type Server struct {
	o Options
}

// New returns a Server.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Refresh <= 0 {
		o.Refresh = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Server{o: o}
}

// Engine returns the current engine (nil while starting).
func (s *Server) Engine() *engine.Engine {
	if s.o.Engine == nil {
		return nil
	}
	return s.o.Engine()
}

// Handler returns the HTTP handler; request bodies are cut at
// MaxBodyBytes. With a non-empty token every request
// that changes something must carry "Authorization: Bearer TOKEN"; with
// requireToken and an empty token, changes are refused (a TCP listener
// without token_file is read-only). The unix socket passes requireToken
// false: its file mode is the access control.
func (s *Server) Handler(requireToken bool, token string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/tests", s.methods(map[string]http.HandlerFunc{"GET": s.listTests}))
	mux.HandleFunc("/api/v1/tests/", s.testRoutes)
	mux.HandleFunc("/api/v1/silences", s.methods(map[string]http.HandlerFunc{"GET": s.listSilences, "POST": s.addSilence, "DELETE": s.removeSilence}))
	mux.HandleFunc("/api/v1/silences/", s.methods(map[string]http.HandlerFunc{"DELETE": s.removeSilence}))
	mux.HandleFunc("/api/v1/outbox", s.methods(map[string]http.HandlerFunc{"GET": s.outbox}))
	mux.HandleFunc("/api/v1/report", s.reads(s.report))
	mux.HandleFunc("/tests/{name}", s.reads(s.testPage))
	mux.HandleFunc("/badge/{name}/{kind}", s.reads(s.badge))
	mux.HandleFunc("/badge/{name}/{kind}/{window}", s.reads(s.badge))
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: %s", r.URL.Path)
	})
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		if s.o.Metrics == nil {
			http.NotFound(w, r)
			return
		}
		s.o.Metrics.ServeHTTP(w, r)
	})
	mux.HandleFunc("/{$}", s.page)
	return limitBody(s.guard(requireToken, token, mux))
}

// guard refuses changes without the token.
func (s *Server) guard(requireToken bool, token string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead || !requireToken {
			next.ServeHTTP(w, r)
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		w.Header().Set("WWW-Authenticate", `Bearer realm="monsta"`)
		switch {
		case token == "":
			writeError(w, http.StatusUnauthorized, "changes over TCP need a token: set [main] token_file, or use the unix socket")
		case !ok || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(token)) != 1:
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// methods dispatches on the method and answers others with a JSON 405.
func (s *Server) methods(m map[string]http.HandlerFunc) http.HandlerFunc {
	allow := make([]string, 0, len(m))
	for k := range m {
		allow = append(allow, k)
	}
	return func(w http.ResponseWriter, r *http.Request) {
		h, ok := m[r.Method]
		if !ok && r.Method == http.MethodHead {
			h, ok = m[http.MethodGet]
		}
		if !ok {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeError(w, http.StatusMethodNotAllowed, "method %s not allowed here", r.Method)
			return
		}
		if s.Engine() == nil {
			writeError(w, http.StatusServiceUnavailable, "the daemon is starting")
			return
		}
		h(w, r)
	}
}

// reads serves GET and HEAD only, with or without an engine: the history
// surfaces also answer the command line that reads the database itself.
func (s *Server) reads(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "method %s not allowed here", r.Method)
			return
		}
		h(w, r)
	}
}

// APIError is the body of every error answer.
type APIError struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, format string, args ...any) {
	writeJSON(w, code, APIError{Error: fmt.Sprintf(format, args...)})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// Tests returns every test's view, in configuration order.
func (s *Server) Tests() []Test {
	st := s.Engine().Status()
	out := make([]Test, len(st))
	for i, x := range st {
		out[i] = NewTest(x)
	}
	return out
}

// TestList is the body of GET /api/v1/tests.
type TestList struct {
	Tests []Test `json:"tests"`
	// PagesAtRisk counts accepted notifications whose outbox files could
	// not be written (a full disk): lost if the daemon dies now.
	// PagesAtRiskError is the last write error.
	PagesAtRisk      int    `json:"pages_at_risk,omitempty"`
	PagesAtRiskError string `json:"pages_at_risk_error,omitempty"`
}

func (s *Server) listTests(w http.ResponseWriter, r *http.Request) {
	list := TestList{Tests: s.Tests()}
	if s.o.AtRisk != nil {
		if n, err := s.o.AtRisk(); n > 0 {
			list.PagesAtRisk = n
			if err != nil {
				list.PagesAtRiskError = err.Error()
			}
		}
	}
	writeJSON(w, http.StatusOK, list)
}

// testRoutes serves /api/v1/tests/NAME and its run, history and outages.
func (s *Server) testRoutes(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/api/v1/tests/")
	name, action, _ := strings.Cut(rest, "/")
	name = strings.TrimPrefix(name, "Test_")
	switch action {
	case "":
		s.methods(map[string]http.HandlerFunc{"GET": func(w http.ResponseWriter, r *http.Request) { s.oneTest(w, name) }})(w, r)
	case "run":
		s.methods(map[string]http.HandlerFunc{"POST": func(w http.ResponseWriter, r *http.Request) { s.runTest(w, r, name) }})(w, r)
	case "history":
		s.reads(func(w http.ResponseWriter, r *http.Request) { s.testHistory(w, r, name) })(w, r)
	case "outages":
		s.reads(func(w http.ResponseWriter, r *http.Request) { s.testOutages(w, r, name) })(w, r)
	default:
		writeError(w, http.StatusNotFound, "no such endpoint: %s", r.URL.Path)
	}
}

func (s *Server) oneTest(w http.ResponseWriter, name string) {
	st, ok := s.Engine().TestStatus(name)
	if !ok {
		writeError(w, http.StatusNotFound, "no test named %q", name)
		return
	}
	writeJSON(w, http.StatusOK, NewTest(st))
}

// runTest runs a test now; the result counts like a scheduled run. A
// client that goes away does not cut the run short.
func (s *Server) runTest(w http.ResponseWriter, r *http.Request, name string) {
	e := s.Engine()
	if _, ok := e.TestStatus(name); !ok {
		writeError(w, http.StatusNotFound, "no test named %q", name)
		return
	}
	if _, err := e.RunTestOnce(context.WithoutCancel(r.Context()), name); err != nil {
		writeError(w, http.StatusConflict, "%v", err)
		return
	}
	st, _ := e.TestStatus(name)
	s.o.Logger.Info("test run on request", "test", name)
	writeJSON(w, http.StatusOK, NewTest(st))
}

// SilenceList is the body of GET /api/v1/silences.
type SilenceList struct {
	Silences []silence.Silence `json:"silences"`
}

// SilenceRequest is the body of POST /api/v1/silences.
type SilenceRequest struct {
	Pattern  string `json:"pattern"`
	Duration string `json:"duration"` // 90m, 2h, 1d
	Reason   string `json:"reason,omitempty"`
}

// SilenceAdded is the answer to POST /api/v1/silences.
type SilenceAdded struct {
	Silence silence.Silence `json:"silence"`
	Tests   []string        `json:"tests"` // configured tests it matches now
}

// SilenceRemoved is the answer to DELETE /api/v1/silences.
type SilenceRemoved struct {
	Removed []silence.Silence `json:"removed"`
}

func (s *Server) listSilences(w http.ResponseWriter, r *http.Request) {
	list := s.o.Silences.List()
	if list == nil {
		list = []silence.Silence{}
	}
	writeJSON(w, http.StatusOK, SilenceList{Silences: list})
}

func (s *Server) addSilence(w http.ResponseWriter, r *http.Request) {
	var req SilenceRequest
	dec := json.NewDecoder(r.Body) // cut at MaxBodyBytes by Handler
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "body: %v", err)
		return
	}
	d, err := silence.ParseDuration(req.Duration)
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	if _, err := silence.NormalizePattern(req.Pattern); err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	sl, err := s.o.Silences.Add(req.Pattern, d, req.Reason)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	matched := []string{}
	for _, t := range s.Engine().Status() {
		if ok, _ := path.Match(sl.Pattern, t.Name); ok {
			matched = append(matched, t.Name)
		}
	}
	s.o.Logger.Info("silence added", "id", sl.ID, "pattern", sl.Pattern, "until", sl.End, "reason", sl.Reason, "tests", len(matched))
	writeJSON(w, http.StatusCreated, SilenceAdded{Silence: sl, Tests: matched})
}

// removeSilence serves DELETE /api/v1/silences/ID and DELETE
// /api/v1/silences?match=ID|PATTERN.
func (s *Server) removeSilence(w http.ResponseWriter, r *http.Request) {
	key := strings.TrimPrefix(r.URL.Path, "/api/v1/silences")
	key = strings.TrimPrefix(key, "/")
	if key == "" {
		key = r.URL.Query().Get("match")
	}
	if key == "" {
		writeError(w, http.StatusBadRequest, "say which silence: DELETE /api/v1/silences/ID or ?match=ID|PATTERN")
		return
	}
	gone, err := s.o.Silences.Remove(key)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	if len(gone) == 0 {
		writeError(w, http.StatusNotFound, "no silence with id or pattern %q", key)
		return
	}
	for _, sl := range gone {
		s.o.Logger.Info("silence removed", "id", sl.ID, "pattern", sl.Pattern)
	}
	writeJSON(w, http.StatusOK, SilenceRemoved{Removed: gone})
}

// OutboxEntry is one notification waiting or given up.
type OutboxEntry struct {
	Notification string        `json:"notification"`
	ID           string        `json:"id,omitempty"`
	Test         string        `json:"test"`
	State        runtime.State `json:"state"`
	Failures     int           `json:"failures"`
	Time         time.Time     `json:"time,omitzero"`
	Subject      string        `json:"subject,omitempty"`
	Reason       string        `json:"reason,omitempty"` // why it failed for good
	File         string        `json:"file,omitempty"`
}

// Outbox is the body of GET /api/v1/outbox.
type Outbox struct {
	Queued []OutboxEntry `json:"queued"`
	Failed []OutboxEntry `json:"failed"`
}

func (s *Server) outbox(w http.ResponseWriter, r *http.Request) {
	out := Outbox{Queued: []OutboxEntry{}, Failed: []OutboxEntry{}}
	for _, q := range s.Engine().Dispatcher().Queued() {
		m := q.Message
		out.Queued = append(out.Queued, OutboxEntry{Notification: q.Notification, ID: q.ID, Test: m.Test, State: m.State, Failures: m.Failures, Time: m.Time, Subject: m.Short})
	}
	if s.o.Failed != nil {
		for _, f := range s.o.Failed() {
			out.Failed = append(out.Failed, OutboxEntry{Notification: f.Notification, Test: f.Test, State: f.State, Time: f.Failed, Reason: f.Reason, File: f.File})
		}
	}
	writeJSON(w, http.StatusOK, out)
}
