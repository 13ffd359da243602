package pop3server

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"postel/internal/testutil"
)

// TestWire runs the scripted dialogues of testdata/wire: exact lines a
// client sends and the server must answer, on alice's INBOX. A script is
// a sequence of:
//
//	# comment
//	@config tls-only     no plaintext login, even from loopback (first lines only)
//	@put FILE            deliver testdata/messages/FILE, LF made CRLF
//	@putraw FILE         deliver testdata/messages/FILE byte for byte
//	@connect [tls]       open a new connection (implicit TLS with "tls"); it becomes current
//	@starttls            TLS handshake on the current connection (after STLS's +OK)
//	@expunge N           expunge message N of the INBOX (UID order) as IMAP would
//	@messages N          the INBOX holds N messages
//	@closed              the server has closed the current connection
//	C: line              sent with CRLF, bound placeholders replaced
//	S: line              the next line the server sends, matched exactly
//	                     but for placeholders
//
// In S: lines, ${*} matches any text, and ${NAME} matches a run of text
// without space, ")" or "]", bound on first use: later uses must match
// the same text. The first C: or S: line without a connection opens a
// plain one. At the end, nothing more may come on the current connection.
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
	if len(lines) > 0 && slicesContains(lines, "@config tls-only") {
		adjust = append(adjust, func(c *Config) { c.AllowPlaintextLoopback = false })
	}
	h := newHarness(t, adjust...)
	var r *raw
	current := func() *raw {
		if r == nil {
			r = h.connect(h.addr, nil)
		}
		return r
	}
	vars := testutil.Vars{}
	for n, l := range lines {
		where := fmt.Sprintf("%s:%d", path, n+1)
		verb, arg, _ := strings.Cut(l, " ")
		switch {
		case l == "" || strings.HasPrefix(l, "#") || verb == "@config":
		case verb == "@put" || verb == "@putraw":
			body, err := os.ReadFile(filepath.Join("testdata/messages", arg))
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			if verb == "@put" {
				body = []byte(testutil.CRLF(string(body)))
			}
			h.put(h.alice, "", string(body))
		case verb == "@connect":
			if arg == "tls" {
				r = h.connect(h.tlsAddr, h.clientTLS)
			} else {
				r = h.connect(h.addr, nil)
			}
		case l == "@starttls":
			tc := tls.Client(current().c, h.clientTLS)
			tc.SetDeadline(time.Now().Add(10 * time.Second))
			if err := tc.Handshake(); err != nil {
				t.Fatalf("%s: TLS handshake: %v", where, err)
			}
			r = &raw{t: t, c: tc, br: bufio.NewReader(tc)}
		case verb == "@expunge":
			i, err := strconv.Atoi(arg)
			mb, msgs := h.inbox(h.alice)
			if err != nil || i < 1 || i > len(msgs) {
				t.Fatalf("%s: no message %q to expunge", where, arg)
			}
			if _, err := h.st.Expunge(context.Background(), h.alice.ID, mb.ID, []uint32{msgs[i-1].UID}); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
		case verb == "@messages":
			if _, msgs := h.inbox(h.alice); strconv.Itoa(len(msgs)) != arg {
				t.Fatalf("%s: the INBOX holds %d messages, want %s", where, len(msgs), arg)
			}
		case l == "@closed":
			current().closed()
		case verb == "C:":
			current().send(vars.Substitute(arg))
		case verb == "S:":
			if got := current().line(); !vars.Match(arg, got) {
				t.Fatalf("%s:\n want %s\n  got %s", where, arg, got)
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

func slicesContains(lines []string, s string) bool {
	for _, l := range lines {
		if l == s {
			return true
		}
	}
	return false
}
