package runtime

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/monsta/monsta/config"
)

// secretRegistry has a notifier type with a required secret and an
// optional one; their *_file twins are derived.
func secretRegistry(t *testing.T, got *Options) *Registry {
	t.Helper()
	reg := NewRegistry()
	err := reg.Add(Descriptor{Kind: KindNotifier, Name: "vault", Description: "a notifier with secrets",
		Options: []Option{
			{Name: "recipient", Required: true, Help: "Who."},
			{Name: "password", Required: true, Secret: true, Help: "The password."},
			{Name: "token", Secret: true, Help: "A token."},
		},
		NewNotifier: func(o *Options) (Notifier, error) { *got = *o; return stubNotifier{}, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func TestSecretFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("pw", "s3cret-from-file\n")
	write("crlf", "tok-crlf\r\n")
	write("empty", "\n")
	tests := []struct {
		name     string
		section  string
		password string
		token    string
		wantErr  string // "FILE:LINE: [section] key: text" without the directory
	}{
		{name: "password_file relative to the configuration", section: "password_file = pw", password: "s3cret-from-file"},
		{name: "CRLF trimmed", section: "password = inline\ntoken_file = crlf", password: "inline", token: "tok-crlf"},
		{name: "both set", section: "password = inline\npassword_file = pw",
			wantErr: "monsta.conf:7: [Notification_x] password_file: set either password or password_file, not both (password is set at "},
		{name: "missing file", section: "password_file = nope",
			wantErr: "monsta.conf:6: [Notification_x] password_file: read " + filepath.Join(dir, "nope") + ": no such file or directory"},
		{name: "empty file", section: "password_file = empty", wantErr: "monsta.conf:6: [Notification_x] password_file: " + filepath.Join(dir, "empty") + " is empty"},
		{name: "neither", section: "token = t", wantErr: "[Notification_x] password: required option missing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got Options
			conf := "[Test_t]\nchecks = c\nnotify = 1:x\n[Notification_x]\n" + tc.section + "\nrecipient = r\n[Check_c]\ntype = fake\nhost = c\n"
			f := filepath.Join(dir, "monsta.conf")
			if err := os.WriteFile(f, []byte(strings.Replace(conf, "[Notification_x]\n", "[Notification_x]\ntype = vault\n", 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			reg := secretRegistry(t, &got)
			if err := reg.Add(Descriptor{Kind: KindCheck, Name: "fake", Description: "d", Options: []Option{{Name: "host", Help: "h."}},
				NewCheck: func(*Options) (Check, error) { return &stubCheck{}, nil }}); err != nil {
				t.Fatal(err)
			}
			cfg := loadFile(t, f)
			_, _, err := NewResolver(cfg).Resolve(reg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Resolve() error = %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error shows the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.String("password") != tc.password || got.String("token") != tc.token {
				t.Errorf("password, token = %q, %q; want %q, %q", got.String("password"), got.String("token"), tc.password, tc.token)
			}
		})
	}
}

func loadFile(t *testing.T, f string) *config.Config {
	t.Helper()
	cfg, err := config.Load(f, "")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestRedactError(t *testing.T) {
	var got Options
	reg := secretRegistry(t, &got)
	d, _ := reg.Lookup(KindNotifier, "vault")
	o, err := NewOptions(d, "Notification_x", map[string]string{"recipient": "r", "password": "p@ss word", "token": "tok-123"})
	if err != nil {
		t.Fatal(err)
	}
	inner := Permanent(errors.New("login p@ss word refused; url ?t=p%40ss+word; token tok-123"))
	red := RedactError(o, inner)
	if want := "login [redacted] refused; url ?t=[redacted]; token [redacted]"; red.Error() != want {
		t.Errorf("RedactError() = %q, want %q", red, want)
	}
	var pe *PermanentError
	if !errors.As(red, &pe) {
		t.Error("RedactError() lost the PermanentError")
	}
	spec := &NotificationSpec{Name: "x", Desc: d, Opts: o, Notifier: notifierFunc(func(context.Context, Message) error { return inner })}
	if err := spec.Send(context.Background(), Message{}); strings.Contains(err.Error(), "tok-123") {
		t.Errorf("Send() error shows the token: %v", err)
	}
}

// TestRedactWireForms: a secret, also one read from its *_file twin, is
// redacted in the forms a peer sends it back, paired with the type's user
// name; a constructor's error and a check's panic lose it too.
func TestRedactWireForms(t *testing.T) {
	dir := t.TempDir()
	const pw = "pw-from-file-7Hq2"
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte(pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	reg := NewRegistry()
	var built *Options
	if err := reg.Add(Descriptor{Kind: KindCheck, Name: "login", Description: "d",
		Options: []Option{{Name: "username", Help: "u."}, {Name: "password", Secret: true, Help: "p."}, {Name: "fail", Help: "f."}},
		NewCheck: func(o *Options) (Check, error) {
			if o.String("fail") != "" {
				return nil, errors.New("password " + o.String("password") + " refused")
			}
			built = o
			return checkPanics{o.String("password")}, nil
		}}); err != nil {
		t.Fatal(err)
	}
	conf := "[Test_t]\nchecks = c\n[Check_c]\ntype = login\nusername = ann\npassword_file = pw\n"
	f := filepath.Join(dir, "monsta.conf")
	write := func(s string) {
		if err := os.WriteFile(f, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(conf)
	if _, _, err := NewResolver(loadFile(t, f)).Resolve(reg); err != nil {
		t.Fatal(err)
	}
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, form := range []string{pw, b64("\x00ann\x00" + pw), b64("ann\x00ann\x00" + pw), b64("ann:" + pw), b64(pw)} {
		if got := built.Redact("535 " + form); got != "535 [redacted]" && got != "535 [redacted]=" && got != "535 [redacted]==" {
			t.Errorf("Redact(%q) = %q", "535 "+form, got)
		}
	}
	chk, err := built.Descriptor().NewCheck(built)
	if err != nil {
		t.Fatal(err)
	}
	res := RunCheck(context.Background(), chk, built)
	if len(res.Errors) != 1 || !strings.Contains(res.Errors[0], "panicked") || strings.Contains(res.Errors[0], pw) {
		t.Errorf("RunCheck() errors = %q, want one panic without the password", res.Errors)
	}
	write(conf + "fail = yes\n")
	if _, _, err := NewResolver(loadFile(t, f)).Resolve(reg); err == nil || strings.Contains(err.Error(), pw) {
		t.Errorf("Resolve() error = %v, want one without the password", err)
	}
}

// checkPanics panics with its secret in the value.
type checkPanics struct{ secret string }

func (c checkPanics) Run(context.Context) (Stats, error) { panic("bad state with " + c.secret) }
