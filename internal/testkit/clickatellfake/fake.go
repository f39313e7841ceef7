// Package clickatellfake is a local stand-in for Clickatell's two SMS APIs,
// for tests: the legacy HTTP API (/http/sendmsg with user, password and
// api_id, answering "ID: …" or "ERR: NNN, text"; /http/auth to log in)
// and the REST API (POST /messages with an Authorization header and a JSON
// body; GET /public-client/balance). It checks
// credentials, parameters and that the text fits one SMS, and records every
// accepted message. It listens on 127.0.0.1 only.
package clickatellfake

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"unicode/utf16"

	"github.com/monsta/monsta/internal/gsm7"
)

// Account holds the credentials the fake accepts.
type Account struct {
	User, Password, APIID string // legacy HTTP API
	APIKey                string // REST API
}

// Message is one accepted SMS.
type Message struct {
	API     string // "http" or "rest"
	To      string
	From    string
	Text    string
	Unicode bool // sent as UCS-2 (70 characters) rather than GSM-7 (160)
}

// Server is a running fake.
type Server struct {
	URL string // base URL: scheme, host and port

	acct   Account
	srv    *httptest.Server
	mu     sync.Mutex
	msgs   []Message
	reqs   int
	script []Answer
}

// Answer is a canned reply to one API request.
type Answer struct {
	Status int    // HTTP status; 0 means 200
	Body   string // e.g. "ERR: 113, Maximum message parts exceeded"
}

// Script makes the next requests get these answers, in order; then the
// fake answers by itself again.
func (s *Server) Script(answers ...Answer) {
	s.mu.Lock()
	s.script = append(s.script, answers...)
	s.mu.Unlock()
}

// scripted writes the next canned answer, if there is one.
func (s *Server) scripted(w http.ResponseWriter) bool {
	s.mu.Lock()
	if len(s.script) == 0 {
		s.mu.Unlock()
		return false
	}
	a := s.script[0]
	s.script = s.script[1:]
	s.mu.Unlock()
	if strings.HasPrefix(a.Body, "{") {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(max(a.Status, http.StatusOK))
	fmt.Fprintln(w, a.Body)
	return true
}

// Start starts a plain-HTTP fake accepting acct.
func Start(acct Account) *Server { return start(acct, false) }

// StartTLS starts an HTTPS fake accepting acct; Certificate returns its
// self-signed certificate.
func StartTLS(acct Account) *Server { return start(acct, true) }

func start(acct Account, useTLS bool) *Server {
	s := &Server{acct: acct}
	mux := http.NewServeMux()
	mux.HandleFunc("/http/sendmsg", s.legacy)
	mux.HandleFunc("/messages", s.rest)
	mux.HandleFunc("/http/auth", s.auth)
	mux.HandleFunc("/public-client/balance", s.balance)
	if useTLS {
		s.srv = httptest.NewTLSServer(mux)
	} else {
		s.srv = httptest.NewServer(mux)
	}
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Certificate returns the certificate of a StartTLS fake.
func (s *Server) Certificate() *x509.Certificate { return s.srv.Certificate() }

// Messages returns the accepted messages so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Requests returns how many API requests arrived.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reqs
}

func (s *Server) record(m Message) {
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	s.mu.Unlock()
}

func (s *Server) count() {
	s.mu.Lock()
	s.reqs++
	s.mu.Unlock()
}

// legacy serves GET or POST /http/sendmsg.
func (s *Server) legacy(w http.ResponseWriter, r *http.Request) {
	s.count()
	if s.scripted(w) {
		return
	}
	if err := r.ParseForm(); err != nil {
		fmt.Fprintf(w, "ERR: 101, Invalid or missing parameters\n")
		return
	}
	f := r.Form
	switch {
	case f.Get("api_id") == "" || f.Get("api_id") != s.acct.APIID:
		fmt.Fprintf(w, "ERR: 108, Invalid or missing api_id\n")
		return
	case f.Get("user") != s.acct.User || f.Get("password") != s.acct.Password || s.acct.Password == "":
		fmt.Fprintf(w, "ERR: 001, Authentication failed\n")
		return
	case f.Get("to") == "" || f.Get("text") == "":
		fmt.Fprintf(w, "ERR: 101, Invalid or missing parameters\n")
		return
	}
	text, unicode := f.Get("text"), f.Get("unicode") == "1"
	if unicode {
		b, err := hex.DecodeString(text)
		if err != nil || len(b)%2 != 0 {
			fmt.Fprintf(w, "ERR: 101, Invalid or missing parameters\n")
			return
		}
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
		}
		text = string(utf16.Decode(u))
	}
	if msg := fits(text, unicode); msg != "" {
		fmt.Fprintf(w, "ERR: 113, Maximum message parts exceeded (%s)\n", msg)
		return
	}
	tos := strings.Split(f.Get("to"), ",")
	for _, to := range tos {
		if !validNumber(to) {
			if len(tos) == 1 {
				fmt.Fprintf(w, "ERR: 105, Invalid destination address\n")
			} else {
				fmt.Fprintf(w, "ERR: 105, Invalid destination address To: %s\n", to)
			}
			continue
		}
		s.record(Message{API: "http", To: to, From: f.Get("from"), Text: text, Unicode: unicode})
		if len(tos) == 1 {
			fmt.Fprintf(w, "ID: %s\n", newID())
		} else {
			fmt.Fprintf(w, "ID: %s To: %s\n", newID(), to)
		}
	}
}

// auth serves the legacy API's /http/auth: "OK: <session id>" or an ERR.
func (s *Server) auth(w http.ResponseWriter, r *http.Request) {
	s.count()
	if s.scripted(w) {
		return
	}
	_ = r.ParseForm()
	switch f := r.Form; {
	case f.Get("api_id") == "" || f.Get("api_id") != s.acct.APIID:
		fmt.Fprintf(w, "ERR: 108, Invalid or missing api_id\n")
	case f.Get("user") != s.acct.User || f.Get("password") != s.acct.Password || s.acct.Password == "":
		fmt.Fprintf(w, "ERR: 001, Authentication failed\n")
	default:
		fmt.Fprintf(w, "OK: %s\n", newID())
	}
}

// balance serves the REST API's GET /public-client/balance.
func (s *Server) balance(w http.ResponseWriter, r *http.Request) {
	s.count()
	if s.scripted(w) {
		return
	}
	if r.Header.Get("Authorization") == "" || r.Header.Get("Authorization") != s.acct.APIKey {
		restError(w, http.StatusUnauthorized, 1, "Invalid or missing Integration API Key")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintln(w, `{"balance":100.5,"currency":"USD"}`)
}

// restRequest is the body of POST /messages.
type restRequest struct {
	To      []string `json:"to"`
	Content string   `json:"content"`
	From    string   `json:"from,omitempty"`
}

type restMessage struct {
	APIMessageID *string `json:"apiMessageId"`
	Accepted     bool    `json:"accepted"`
	To           string  `json:"to"`
	ErrorCode    *int    `json:"errorCode"`
	Error        *string `json:"error"`
}

type restResponse struct {
	Messages         []restMessage `json:"messages"`
	ErrorCode        *int          `json:"errorCode"`
	Error            *string       `json:"error"`
	ErrorDescription *string       `json:"errorDescription,omitempty"`
}

func restError(w http.ResponseWriter, status, code int, text string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(restResponse{Messages: []restMessage{}, ErrorCode: &code, Error: &text,
		ErrorDescription: &text})
}

// rest serves POST /messages.
func (s *Server) rest(w http.ResponseWriter, r *http.Request) {
	s.count()
	if s.scripted(w) {
		return
	}
	switch {
	case r.Method != http.MethodPost:
		restError(w, http.StatusMethodNotAllowed, 42, "HTTP method is not supported on this resource")
		return
	case r.Header.Get("Authorization") == "" || r.Header.Get("Authorization") != s.acct.APIKey:
		restError(w, http.StatusUnauthorized, 1, "Invalid or missing Integration API Key")
		return
	case !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json"):
		restError(w, http.StatusBadRequest, 21, "Payload data is malformed")
		return
	}
	var req restRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.To) == 0 || req.Content == "" {
		restError(w, http.StatusBadRequest, 23, "Invalid or missing parameter")
		return
	}
	unicode := !isGSM(req.Content)
	if msg := fits(req.Content, unicode); msg != "" {
		restError(w, http.StatusBadRequest, 24, "Maximum message content size exceeded ("+msg+")")
		return
	}
	resp := restResponse{Messages: []restMessage{}}
	for _, to := range req.To {
		m := restMessage{To: to}
		if validNumber(to) {
			id := newID()
			m.APIMessageID, m.Accepted = &id, true
			s.record(Message{API: "rest", To: to, From: req.From, Text: req.Content, Unicode: unicode})
		} else {
			code, text := 25, "Invalid recipient address"
			m.ErrorCode, m.Error = &code, &text
		}
		resp.Messages = append(resp.Messages, m)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(resp)
}

func validNumber(s string) bool {
	s = strings.TrimPrefix(s, "+")
	if len(s) < 6 || len(s) > 15 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func isGSM(s string) bool { return gsm7.Septets(s) >= 0 }

// fits returns "" when text is one SMS, else why not.
func fits(text string, unicode bool) string {
	if unicode {
		if n := len(utf16.Encode([]rune(text))); n > 70 {
			return fmt.Sprintf("%d UCS-2 characters, one SMS holds 70", n)
		}
		return ""
	}
	n := gsm7.Septets(text)
	if n < 0 {
		return "text is not in the GSM 7-bit alphabet; set unicode=1"
	}
	if n > 160 {
		return fmt.Sprintf("%d GSM characters, one SMS holds 160", n)
	}
	return ""
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
