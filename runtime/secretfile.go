package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/monsta/monsta/config"
	"github.com/monsta/monsta/internal/redact"
)

// Every secret option (password, api_key, token…) has a *_file twin, as in
// blackbox_exporter and Alertmanager: password_file names a file whose
// content (without its trailing newline) is the password, so the secret
// need not sit in the configuration. Exactly one of the two may be set; a
// required secret is satisfied by either. The twins are derived from the
// descriptor, so Go and Lua types get them alike.

// FileSuffix is appended to a secret option's name to name its twin.
const FileSuffix = "_file"

// withSecretFiles returns opts with a *_file twin after every secret
// option that does not declare one itself.
func withSecretFiles(opts []Option) []Option {
	out := make([]Option, 0, len(opts))
	for _, o := range opts {
		out = append(out, o)
		if !o.Secret || o.fileOf != "" {
			continue
		}
		twin := o.Name + FileSuffix
		if slices.ContainsFunc(opts, func(x Option) bool { return x.Name == twin }) {
			continue
		}
		out = append(out, Option{Name: twin, fileOf: o.Name,
			Help: fmt.Sprintf("File whose content is %s (a trailing newline is dropped); instead of %s.", o.Name, o.Name)})
	}
	return out
}

// twinSet tells whether the *_file twin of opt is set in s or defs, which
// satisfies a required secret.
func twinSet(opt Option, s *config.Section, defs []*config.Section) bool {
	if !opt.Secret {
		return false
	}
	for _, sec := range append(slices.Clone(defs), s) {
		if k, ok := sec.Key(opt.Name + FileSuffix); ok && strings.TrimSpace(k.Value) != "" {
			return true
		}
	}
	return false
}

// readSecretFiles fills every secret whose *_file twin is set from that
// file. Errors name the twin's key and position.
func (o *Options) readSecretFiles() []*config.Error {
	var errs []*config.Error
	for i, twin := range o.decl.opts {
		if twin.fileOf == "" {
			continue
		}
		tv := o.vals[i]
		path := strings.TrimSpace(tv.Raw)
		j, ok := o.decl.idx[twin.fileOf]
		if !ok {
			continue
		}
		secret := o.decl.opts[j]
		fail := func(format string, args ...any) {
			errs = append(errs, &config.Error{Pos: tv.Pos, Section: o.Section, Key: twin.Name, Err: fmt.Errorf(format, args...)})
		}
		switch {
		case !tv.Set || path == "":
			continue
		case o.vals[j].Set && o.vals[j].Raw != "":
			where := ""
			if p := o.vals[j].Pos; p.File != "" {
				where = fmt.Sprintf(" (%s is set at %s:%d)", secret.Name, p.File, p.Line)
			}
			fail("set either %s or %s, not both%s", secret.Name, twin.Name, where)
			continue
		}
		if !filepath.IsAbs(path) && tv.Pos.File != "" {
			path = filepath.Join(filepath.Dir(tv.Pos.File), path)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			fail("read %s: %w", path, err)
			continue
		}
		val := strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
		if val == "" {
			fail("%s is empty", path)
			continue
		}
		v, err := resolveValue(secret, val, true)
		if err != nil {
			// The parse error may quote the value: say where, not what.
			fail("the content of %s is not a valid %s", path, secret.Name)
			continue
		}
		v.Pos = tv.Pos
		o.vals[j] = v
		if o.keys != nil {
			o.keys[j] = o.keys[i]
		}
	}
	return errs
}

// Secrets returns the values of the secret options that are set, for
// redaction.
func (o *Options) Secrets() []string {
	var out []string
	for i, opt := range o.decl.opts {
		if opt.Secret && o.vals[i].Raw != "" {
			out = append(out, o.vals[i].Raw)
		}
	}
	return out
}

// prepareRedaction notes whether o has a secret to redact. The wire forms
// are built on first use (redaction): most options never redact anything,
// and 100,000 checks with a password would otherwise hold 3 KB of forms
// each from the start.
func (o *Options) prepareRedaction() {
	o.red = nil
	for i, opt := range o.decl.opts {
		if opt.Secret && o.vals[i].Raw != "" {
			o.red = &lazyForms{}
			return
		}
	}
}

// lazyForms builds a redact.Set once, when it is first needed.
type lazyForms struct {
	once sync.Once
	set  *redact.Set
}

// redaction returns the wire forms of o's secrets, each secret with the
// user names of the options that name a user (see Option.Secret); nil when
// o has no secret.
func (o *Options) redaction() *redact.Set {
	if o == nil || o.red == nil {
		return nil
	}
	o.red.once.Do(func() {
		var creds []redact.Credential
		for i, opt := range o.decl.opts {
			if opt.Secret && o.vals[i].Raw != "" {
				creds = append(creds, redact.Credential{Secret: o.vals[i].Raw, Users: o.userNames()})
			}
		}
		o.red.set = redact.NewSet(creds...)
	})
	return o.red.set
}

// userNames returns the values of o's options that name a user: a
// non-secret option whose name contains "user" or "login", or is "jid".
func (o *Options) userNames() []string {
	var out []string
	for i, opt := range o.decl.opts {
		if opt.Secret || o.vals[i].Raw == "" {
			continue
		}
		if n := strings.ToLower(opt.Name); strings.Contains(n, "user") || strings.Contains(n, "login") || n == "jid" {
			out = append(out, o.vals[i].Raw)
		}
	}
	return out
}

// Redact replaces every secret value of o in text with [redacted], in each
// form a peer can send it back: raw, URL-escaped, quoted, base64 (alone,
// inside a longer blob, as the AUTH PLAIN and LOGIN blobs and HTTP Basic's
// user:password with a user name of o), and each token of a secret URL or
// header list. It is the one place where server error texts lose secrets
// before they are logged, printed or stored; redact a server's answer
// before clipping it, never after.
func (o *Options) Redact(text string) string {
	if o == nil {
		return text
	}
	return o.redaction().Text(text)
}

// RedactError returns err with o's secrets removed from its text; errors.Is
// and errors.As still see the chain (a PermanentError stays permanent).
func RedactError(o *Options, err error) error {
	if o == nil {
		return err
	}
	return o.redaction().Error(err)
}
