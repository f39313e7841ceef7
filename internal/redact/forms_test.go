package redact

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// pureRun returns the base64 characters of enc(blob) that depend only on
// blob[start:end]: what a peer's blob shows of the secret there.
func pureRun(blob []byte, start, end int) string {
	enc := base64.StdEncoding.EncodeToString(blob)
	var b strings.Builder
	for j := 0; j < len(enc) && enc[j] != '='; j++ {
		first, last := 6*j/8, (6*j+5)/8
		if first >= start && last < end {
			b.WriteByte(enc[j])
		}
	}
	return b.String()
}

func TestSetText(t *testing.T) {
	const user, secret = "bob@example.org", `hunter2/Xq9 "k&y"+`
	s := NewSet(Credential{Secret: secret, Users: []string{user}})
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct{ name, text string }{
		{"raw", "535 bad password " + secret + " for you"},
		{"query escape", "GET /x?p=" + url.QueryEscape(secret) + " failed"},
		{"path escape", "GET /" + url.PathEscape(secret) + " failed"},
		{"go quoted", fmt.Sprintf("reply %q", "pw="+secret)},
		{"json", `{"error":"` + strings.ReplaceAll(secret, `"`, `\"`) + `"}`},
		{"auth login", "535 " + b64(secret)},
		{"auth plain", "535 " + b64("\x00"+user+"\x00"+secret)},
		{"auth plain authzid", "535 " + b64(user+"\x00"+user+"\x00"+secret)},
		{"xmpp plain", "<text>" + b64("\x00bob\x00"+secret) + "</text>"},
		{"basic", "echo Authorization: Basic " + b64(user+":"+secret)},
		{"url-safe base64", "x " + base64.URLEncoding.EncodeToString([]byte(secret))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := s.Text(tc.text)
			if !strings.Contains(got, Mark) {
				t.Errorf("Text(%q) = %q, nothing redacted", tc.text, got)
			}
			for i := 0; i+8 <= len(secret); i++ {
				if strings.Contains(got, secret[i:i+8]) {
					t.Errorf("Text(%q) = %q, shows %q", tc.text, got, secret[i:i+8])
				}
			}
		})
	}
}

// TestSetAlignments plants the secret inside longer base64 blobs at every
// offset: the characters that encode only the secret must go, whatever
// the authorization identity or other bytes around it.
func TestSetAlignments(t *testing.T) {
	const secret = "correct-horse-battery"
	s := NewSet(Credential{Secret: secret})
	for pre := 0; pre < 7; pre++ {
		for post := 0; post < 4; post++ {
			blob := []byte(strings.Repeat("a", pre) + "\x00" + secret + strings.Repeat("z", post))
			start := pre + 1
			text := "AUTH " + base64.StdEncoding.EncodeToString(blob)
			got := s.Text(text)
			if run := pureRun(blob, start, start+len(secret)); len(run) < 8 || strings.Contains(got, run) {
				t.Errorf("pre %d post %d: Text(%q) = %q, shows %q", pre, post, text, got, run)
			}
		}
	}
}

func TestSetEdges(t *testing.T) {
	const secret = "abcdefghijklmnop"
	s := NewSet(Credential{Secret: secret})
	for _, tc := range []struct{ in, want string }{
		{"answer: token=" + secret[:9], "answer: token=" + Mark},
		{secret[5:] + " rest", Mark + " rest"},
		{"answer: abcde", "answer: abcde"}, // too short to tell
		{"nothing here", "nothing here"},
	} {
		if got := s.Text(tc.in); got != tc.want {
			t.Errorf("Text(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSetPieces(t *testing.T) {
	for _, tc := range []struct {
		name, secret string
		shown        []string // each must be redacted when it appears alone
	}{
		{"headers", "Authorization: Bearer tok-1234567890 | X-Api-Key: key-0987654321",
			[]string{"tok-1234567890", "key-0987654321"}},
		{"basic header", "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("ann:pw-5551234")),
			[]string{"pw-5551234"}},
		{"webhook url", "https://hooks.example.org/services/T000/B000/abcdefghijklmnopqrstuvwx?token=qwertyuiop",
			[]string{"abcdefghijklmnopqrstuvwx", "qwertyuiop", "/services/T000/B000/abcdefghijklmnopqrstuvwx"}},
		{"url password", "https://ann:s3cr3t-pass@example.org/", []string{"s3cr3t-pass"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewSet(Credential{Secret: tc.secret})
			for _, p := range tc.shown {
				text := "server said " + strconv.Quote(p) + " back"
				if got := s.Text(text); strings.Contains(got, p) {
					t.Errorf("Text(%q) = %q", text, got)
				}
			}
		})
	}
}

func TestSetKeepsOrdinaryText(t *testing.T) {
	// Short secrets and short pieces must not eat words.
	s := NewSet(Credential{Secret: "ab"}, Credential{Secret: "X-Probe: monsta | Accept: json"})
	for _, text := range []string{"connection refused: about absent", "the json was monsta's"} {
		if got := s.Text(text); got != text {
			t.Errorf("Text(%q) = %q, want it unchanged", text, got)
		}
	}
	if NewSet() != nil || NewSet(Credential{}) != nil {
		t.Error("NewSet without secrets is not nil")
	}
	var none *Set
	if got := none.Text("x"); got != "x" {
		t.Errorf("nil Set: Text = %q", got)
	}
}

func TestSetError(t *testing.T) {
	s := NewSet(Credential{Secret: "p4ssw0rd-xyz"})
	err := fmt.Errorf("login p4ssw0rd-xyz: %w", context.DeadlineExceeded)
	got := s.Error(err)
	if strings.Contains(got.Error(), "p4ssw0rd") || !errors.Is(got, context.DeadlineExceeded) {
		t.Errorf("Error() = %v (Is deadline: %v)", got, errors.Is(got, context.DeadlineExceeded))
	}
	plain := errors.New("no secret")
	if s.Error(plain) != plain {
		t.Error("an error without a secret was wrapped")
	}
}

func TestClip(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"abcdefghij", 4, "abcd..."},
		{"ab" + Mark + "cd", 6, "ab..."},              // never half a mark
		{"ab" + Mark + "cd", 12, "ab" + Mark + "..."}, // a whole one stays
		{"aé", 2, "a..."},                             // rune boundary
	} {
		if got := Clip(tc.in, tc.n); got != tc.want {
			t.Errorf("Clip(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

// TestRedactThenClip is the order every caller must keep: a secret cut by
// the clip is still gone.
func TestRedactThenClip(t *testing.T) {
	const secret = "tok-0123456789abcdefghijklmnopqrs" // 33 characters
	s := NewSet(Credential{Secret: secret})
	for cut := 1; cut < len(secret); cut++ {
		answer := strings.Repeat(".", 200-cut) + secret + " trailing"
		got := Clip(s.Text(answer), 200)
		for i := 0; i+8 <= len(secret); i++ {
			if strings.Contains(got, secret[i:i+8]) {
				t.Fatalf("cut %d: %q shows %q", cut, got, secret[i:i+8])
			}
		}
	}
}

// BenchmarkSet measures building the forms (once per Options) and
// redacting one failed run's message with them.
func BenchmarkSet(b *testing.B) {
	creds := []Credential{{Secret: "pw-0123456789abcdef", Users: []string{"ann@example.org"}}, {Secret: "tok-abcdefghijklmnop"}}
	text := "AUTH PLAIN as ann@example.org: 535 5.7.8 " + strings.Repeat("x", 150) + " authentication failed"
	b.Run("NewSet", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			NewSet(creds...)
		}
	})
	s := NewSet(creds...)
	b.Run("Text", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s.Text(text)
		}
	})
}
