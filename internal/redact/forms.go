package redact

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Mark is what a secret is replaced with.
const Mark = "[redacted]"

// Lengths below which a text is not treated as a form of a secret, so that
// redaction does not eat ordinary words.
const (
	minForm    = 3  // a secret as configured, and its direct encodings
	minDerived = 8  // a piece of a secret (a header's token, a query value)
	minMiddle  = 8  // base64 characters of a secret at another alignment
	minEdge    = 6  // a secret's prefix at a text's end, or suffix at its start
	minPathSeg = 16 // a URL path segment taken for a webhook token
)

// Credential is one secret value and the user names it authenticates
// (empty when it is a token), from which a Set derives its wire forms.
type Credential struct {
	Secret string
	Users  []string
}

// Set holds the forms in which some secrets can appear in a text: the raw
// value, its URL, quoted and JSON escapes, its base64 at the three
// alignments, and with each user name the AUTH PLAIN and LOGIN blobs and
// HTTP Basic's user:password. Build it once (NewSet); Text is safe for
// concurrent use.
type Set struct {
	forms []string // longest first
}

// NewSet returns the Set of the credentials' forms; nil when there is no
// secret (a nil Set redacts nothing).
func NewSet(creds ...Credential) *Set {
	seen := map[string]bool{}
	var forms []string
	add := func(f string, min int) {
		if len(f) >= min && !seen[f] {
			seen[f] = true
			forms = append(forms, f)
		}
	}
	for _, c := range creds {
		if c.Secret == "" {
			continue
		}
		for i, p := range pieces(c.Secret) {
			min := minDerived
			if i == 0 {
				min = minForm
			}
			encodings(p, min, add)
		}
		for _, u := range users(c.Users) {
			authForms(u, c.Secret, add)
		}
	}
	if len(forms) == 0 {
		return nil
	}
	slices.SortStableFunc(forms, func(a, b string) int { return len(b) - len(a) })
	return &Set{forms: forms}
}

// Text returns text with every form of s's secrets replaced by Mark. A text
// that ends with a prefix of a form, or starts with a suffix of one (an
// answer cut by a read limit), loses that part too.
func (s *Set) Text(text string) string {
	if s == nil || text == "" {
		return text
	}
	for _, f := range s.forms {
		if strings.Contains(text, f) {
			text = strings.ReplaceAll(text, f, Mark)
		}
	}
	for _, f := range s.forms {
		text = cutEdges(text, f)
	}
	return text
}

// Error returns err with its text redacted by s; it still unwraps to err.
// An error without a secret in its text is returned as it is.
func (s *Set) Error(err error) error {
	if err == nil || s == nil {
		return err
	}
	if text := s.Text(err.Error()); text != err.Error() {
		return WithText(err, text)
	}
	return err
}

// cutEdges replaces a prefix of f (at least minEdge bytes) that ends text,
// and a suffix of f that starts it.
func cutEdges(text, f string) string {
	if len(f) <= minEdge {
		return text
	}
	for k := min(len(f)-1, len(text)); k >= minEdge; k-- {
		if strings.HasSuffix(text, f[:k]) {
			text = text[:len(text)-k] + Mark
			break
		}
	}
	for k := min(len(f)-1, len(text)); k >= minEdge; k-- {
		if strings.HasPrefix(text, f[len(f)-k:]) {
			text = Mark + text[k:]
			break
		}
	}
	return text
}

// encodings adds p and the ways a text can carry it: URL escapes, Go and
// JSON quoting, base64 (standard and URL alphabets, AUTH LOGIN's and a
// bearer token's form), and the base64 of p's middle at the three
// alignments it can have inside a longer base64 blob.
func encodings(p string, min int, add func(string, int)) {
	add(p, min)
	add(url.QueryEscape(p), min)
	add(url.PathEscape(p), min)
	if q := strconv.Quote(p); len(q) > 2 {
		add(q[1:len(q)-1], min)
	}
	if j, err := json.Marshal(p); err == nil && len(j) > 2 {
		add(string(j[1:len(j)-1]), min)
	}
	add(base64.RawStdEncoding.EncodeToString([]byte(p)), min)
	add(base64.RawURLEncoding.EncodeToString([]byte(p)), min)
	for shift := 0; shift < 3 && shift < len(p); shift++ {
		// p inside a longer blob, its first byte at any place of a
		// 3-byte group: the groups that hold only p's bytes encode the
		// same whatever comes before and after.
		b := []byte(p[shift:])
		b = b[:len(b)/3*3]
		add(base64.RawStdEncoding.EncodeToString(b), minMiddle)
		add(base64.RawURLEncoding.EncodeToString(b), minMiddle)
	}
}

// authForms adds the base64 blobs that carry user and secret together:
// AUTH PLAIN without and with an authorization identity, AUTH LOGIN's
// user name, and HTTP Basic's user:password.
func authForms(user, secret string, add func(string, int)) {
	b64 := func(s string) string { return base64.RawStdEncoding.EncodeToString([]byte(s)) }
	add(b64("\x00"+user+"\x00"+secret), minForm)
	add(b64(user+"\x00"+user+"\x00"+secret), minForm)
	add(b64(user+":"+secret), minForm)
	add(b64(user), minDerived)
	if local, _, ok := strings.Cut(user, "@"); ok && local != "" {
		// XMPP: the JID as authorization identity, its local part as
		// the user.
		add(b64("\x00"+local+"\x00"+secret), minForm)
		add(b64(user+"\x00"+local+"\x00"+secret), minForm)
	}
}

// users returns the distinct non-empty user names.
func users(us []string) []string {
	var out []string
	for _, u := range us {
		if u = strings.TrimSpace(u); u != "" && !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out
}

// pieces returns secret and the parts of it that a peer may send back on
// their own: a URL's password, path, query and query values; each value
// of "Name: value | Name: value" headers, the token after an
// authentication scheme, and the password of a Basic credential.
func pieces(secret string) []string {
	out := []string{secret}
	if strings.Contains(secret, "://") {
		out = append(out, urlPieces(secret)...)
	}
	if strings.Contains(secret, ":") {
		for _, part := range strings.Split(secret, "|") {
			out = append(out, headerPieces(part)...)
		}
	}
	return out
}

// urlPieces returns the secret parts of a URL.
func urlPieces(raw string) []string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		return nil
	}
	var out []string
	if pw, ok := u.User.Password(); ok {
		out = append(out, pw, u.User.Username()+":"+pw)
	}
	if u.RawQuery != "" {
		out = append(out, u.RawQuery)
		for _, vs := range u.Query() {
			out = append(out, vs...)
		}
	}
	if u.Path != "" && u.Path != "/" {
		out = append(out, u.EscapedPath())
		for _, seg := range strings.Split(u.Path, "/") {
			if len(seg) >= minPathSeg {
				out = append(out, seg)
			}
		}
	}
	return out
}

// headerPieces returns the value of one "Name: value" header, its last
// word (a token after "Bearer"), and a Basic credential's password.
func headerPieces(h string) []string {
	_, val, ok := strings.Cut(h, ":")
	val = strings.TrimSpace(val)
	if !ok || val == "" {
		return nil
	}
	out := []string{val}
	words := strings.Fields(val)
	last := words[len(words)-1]
	out = append(out, last)
	if len(words) == 2 && strings.EqualFold(words[0], "basic") {
		if dec, err := base64.StdEncoding.DecodeString(last); err == nil && utf8.Valid(dec) {
			if _, pw, ok := strings.Cut(string(dec), ":"); ok {
				out = append(out, pw)
			}
		}
	}
	return out
}

// Clip shortens text to at most n bytes, on a rune boundary and never
// inside a Mark, and says "..." where it cut. Redact before clipping: a
// clip through a secret leaves a part of it no redaction recognizes.
func Clip(text string, n int) string {
	if len(text) <= n {
		return text
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	// Never leave half a Mark: "[reda..." reads like a cut secret.
	if i := strings.LastIndex(text[:cut], "["); i >= 0 && i+len(Mark) > cut && strings.HasPrefix(text[i:], Mark) {
		cut = i
	}
	return text[:cut] + "..."
}
