package pop3server

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
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
	vars := map[string]string{}
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
				body = []byte(toCRLF(string(body)))
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
			current().send(substitute(arg, vars))
		case verb == "S:":
			if got := current().line(); !matchLine(arg, got, vars) {
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

// substitute replaces the bound placeholders of a client line.
func substitute(line string, vars map[string]string) string {
	return placeholder.ReplaceAllStringFunc(line, func(p string) string {
		if v, ok := vars[p[2:len(p)-1]]; ok {
			return v
		}
		return p
	})
}

// toCRLF turns the LF line ends of a test file into CRLF.
func toCRLF(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}

var placeholder = regexp.MustCompile(`\$\{([A-Za-z0-9_*]+)\}`)

// matchLine matches a server line against an expected line with
// placeholders, binding the new ones in vars.
func matchLine(want, got string, vars map[string]string) bool {
	var re strings.Builder
	re.WriteString("^")
	var names []string
	last := 0
	for _, m := range placeholder.FindAllStringSubmatchIndex(want, -1) {
		re.WriteString(regexp.QuoteMeta(want[last:m[0]]))
		name := want[m[2]:m[3]]
		switch v, bound := vars[name]; {
		case name == "*":
			re.WriteString("(.*)")
			names = append(names, "")
		case bound:
			re.WriteString(regexp.QuoteMeta(v))
		default:
			re.WriteString(`([^ )\]]+)`)
			names = append(names, name)
		}
		last = m[1]
	}
	re.WriteString(regexp.QuoteMeta(want[last:]) + "$")
	sub := regexp.MustCompile(re.String()).FindStringSubmatch(got)
	if sub == nil {
		return false
	}
	for i, name := range names {
		if name == "" {
			continue
		}
		if v, ok := vars[name]; ok && v != sub[i+1] {
			return false // a name used twice in one line
		}
		vars[name] = sub[i+1]
	}
	return true
}

// TestMatchLine checks the placeholder matching of the scripts.
func TestMatchLine(t *testing.T) {
	tests := []struct {
		want, got string
		ok        bool
	}{
		{"1 ${UV}.1", "1 1795317915.1", true},
		{"2 ${UV}.2", "2 1795317916.2", false}, // bound to 1795317915 above
		{"+OK ${*}", "+OK anything [at] all", true},
		{"+OK done", "+OK done.", false},
		{"${A} and ${A}", "5 and 5", true},
		{"${B} and ${B}", "5 and 6", false},
	}
	vars := map[string]string{}
	for _, tc := range tests {
		if got := matchLine(tc.want, tc.got, vars); got != tc.ok {
			t.Errorf("matchLine(%q, %q) = %v, want %v", tc.want, tc.got, got, tc.ok)
		}
	}
}
