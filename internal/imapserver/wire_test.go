package imapserver

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"postel/internal/testutil"
)

// TestWire runs the scripted dialogues of testdata/wire: exact lines a
// client sends and the server must answer. A script is a sequence of:
//
//	# comment
//	@put ACCOUNT MAILBOX FILE [FLAG...]   store testdata/messages/FILE (LF made CRLF)
//	@config NAME                           server variant: "tls-only" (no plaintext login),
//	                                       "objectid" (an ObjectIDKey: OBJECTID on)
//	C: line                                sent with CRLF, bound placeholders replaced
//	S: line                                the next line the server sends, matched exactly
//	                                       but for placeholders
//
// In S: lines, ${*} matches any text, and ${NAME} matches a run of text
// without space, ")" or "]", bound on first use: later uses must match
// the same text (UIDVALIDITY, dates...).
func TestWire(t *testing.T) {
	files, err := filepath.Glob("testdata/wire/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			t.Parallel()
			runScript(t, f)
		})
	}
}

func runScript(t *testing.T, path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	var adjust []func(*Config)
	for _, l := range lines {
		if l == "@config tls-only" {
			adjust = append(adjust, func(c *Config) { c.AllowPlaintextLoopback = false })
		}
		if l == "@config objectid" {
			adjust = append(adjust, withObjectIDKey)
		}
	}
	h := newHarness(t, adjust...)
	var r *raw
	vars := testutil.Vars{}
	for n, l := range lines {
		where := fmt.Sprintf("%s:%d", path, n+1)
		switch {
		case l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, "@config"):
		case strings.HasPrefix(l, "@put "):
			f := strings.Fields(l)
			if len(f) < 4 {
				t.Fatalf("%s: @put needs ACCOUNT MAILBOX FILE", where)
			}
			acct := h.alice
			if f[1] == "bob" {
				acct = h.bob
			}
			body, err := os.ReadFile(filepath.Join("testdata/messages", f[3]))
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			h.put(acct, f[2], testutil.CRLF(string(body)), f[4:]...)
		case strings.HasPrefix(l, "C: "):
			if r == nil {
				r = h.connect(h.addr)
			}
			r.send(vars.Substitute(l[3:]))
		case strings.HasPrefix(l, "S: "):
			if r == nil {
				r = h.connect(h.addr)
			}
			got := r.line()
			if !vars.Match(l[3:], got) {
				t.Fatalf("%s:\n want %s\n  got %s", where, l[3:], got)
			}
		default:
			t.Fatalf("%s: bad script line %q", where, l)
		}
	}
	if r != nil {
		// Nothing more may come.
		r.c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if extra, err := r.br.ReadString('\n'); err == nil || extra != "" {
			t.Fatalf("unexpected output after the script: %q", extra)
		}
	}
}
