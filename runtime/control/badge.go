package control

import (
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/monsta/monsta/runtime/history"
)

// Badge colours, as shields.io names them.
const (
	badgeGreen  = "#4c1"
	badgeYellow = "#dfb317"
	badgeOrange = "#fe7d37"
	badgeRed    = "#e05d44"
	badgeGrey   = "#9f9f9f"
	badgeBlue   = "#007ec6"
)

// Badge renders a shields-style SVG badge: label on grey, value on
// colour. Both texts are escaped.
func Badge(label, value, color string) []byte {
	lw, vw := textWidth(label)+10, textWidth(value)+10
	esc := template.HTMLEscapeString
	l, v, w := esc(label), esc(value), strconv.Itoa(lw+vw)
	var b strings.Builder
	b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" width="` + w + `" height="20" role="img" aria-label="` + l + `: ` + v + `">`)
	b.WriteString(`<title>` + l + `: ` + v + `</title>`)
	b.WriteString(`<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>`)
	b.WriteString(`<clipPath id="r"><rect width="` + w + `" height="20" rx="3" fill="#fff"/></clipPath>`)
	b.WriteString(`<g clip-path="url(#r)"><rect width="` + strconv.Itoa(lw) + `" height="20" fill="#555"/><rect x="` + strconv.Itoa(lw) +
		`" width="` + strconv.Itoa(vw) + `" height="20" fill="` + esc(color) + `"/><rect width="` + w + `" height="20" fill="url(#s)"/></g>`)
	b.WriteString(`<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">`)
	b.WriteString(`<text x="` + strconv.Itoa(lw/2) + `" y="14">` + l + `</text><text x="` + strconv.Itoa(lw+vw/2) + `" y="14">` + v + `</text></g></svg>`)
	return []byte(b.String())
}

// textWidth estimates the width of s in 11 px Verdana.
func textWidth(s string) int {
	w := 0
	for _, r := range s {
		switch {
		case strings.ContainsRune("il.,:;|!'", r):
			w += 4
		case strings.ContainsRune("mwMW%", r):
			w += 10
		case r >= 'A' && r <= 'Z':
			w += 8
		default:
			w += 7
		}
	}
	return w
}

// badge serves /badge/NAME/status, /badge/NAME/uptime/WINDOW and
// /badge/NAME/response, readable without the token like the page.
func (s *Server) badge(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.PathValue("name"), "Test_")
	code, label, value, color := s.badgeFor(name, r.PathValue("kind"), r.PathValue("window"))
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "no-cache, max-age=0")
	w.WriteHeader(code)
	w.Write(Badge(label, value, color))
}

// badgeFor says what a badge shows, and the HTTP status to send it with.
func (s *Server) badgeFor(name, kind, window string) (code int, label, value, color string) {
	e := s.Engine()
	if e == nil {
		return http.StatusServiceUnavailable, name, "starting", badgeGrey
	}
	st, ok := e.TestStatus(name)
	if !ok {
		return http.StatusNotFound, name, "no such test", badgeGrey
	}
	t := NewTest(st)
	switch {
	case kind == "status" && window == "":
		v, c := statusBadge(&t)
		return http.StatusOK, name, v, c
	case kind == "response" && window == "":
		if t.LastRun.IsZero() {
			return http.StatusOK, "response", "not run yet", badgeGrey
		}
		return http.StatusOK, "response", seconds(time.Duration(t.DurationSeconds * float64(time.Second))), badgeBlue
	case kind == "uptime":
		return s.uptimeBadge(name, window)
	}
	return http.StatusNotFound, "badge", "want status, uptime/30d or response", badgeGrey
}

// statusBadge is the value and colour of a test's status badge.
func statusBadge(t *Test) (string, string) {
	switch t.State {
	case StateOK:
		return "up", badgeGreen
	case StateFail:
		return "down", badgeRed
	case StatePending:
		return "not run yet", badgeGrey
	}
	v := strings.ReplaceAll(strings.ToLower(t.State), "_", " ")
	if !t.OK && !t.LastRun.IsZero() {
		return "down, " + v, badgeOrange
	}
	return v, badgeYellow
}

// uptimeBadge is the uptime of a test over window (default 30d).
func (s *Server) uptimeBadge(name, window string) (int, string, string, string) {
	if window == "" {
		window = "30d"
	}
	d, err := parseSpan(window, 0)
	if err != nil {
		return http.StatusBadRequest, "uptime", "want a window such as 30d", badgeGrey
	}
	label := "uptime " + window
	if s.o.History == nil {
		return http.StatusOK, label, "history is off", badgeGrey
	}
	now := s.now()
	events, err := s.o.History.Events(name, now.Add(-d), now)
	if err != nil {
		return http.StatusInternalServerError, label, "cannot read the history", badgeGrey
	}
	sessions, err := s.o.History.Sessions(now.Add(-d), now)
	if err != nil {
		return http.StatusInternalServerError, label, "cannot read the history", badgeGrey
	}
	u := history.Compute(name, events, sessions, now.Add(-d), now, s.o.Accounting).Uptime
	return http.StatusOK, label, percent(u), uptimeColor(u)
}

// uptimeColor colours an uptime like the bar's cells.
func uptimeColor(u float64) string {
	switch dayClass(u) {
	case "u5", "u4":
		return badgeGreen
	case "u3":
		return badgeYellow
	case "u2":
		return badgeOrange
	case "u1":
		return badgeRed
	}
	return badgeGrey
}
