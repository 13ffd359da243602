package imapserver

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestWire runs the scripted dialogues of testdata/wire: exact lines a
// client sends and the server must answer. A script is a sequence of:
//
//	# comment
//	@put ACCOUNT MAILBOX FILE [FLAG...]   store testdata/messages/FILE (LF made CRLF)
//	@config NAME                           server variant: "tls-only" (no plaintext login)
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
	}
	h := newHarness(t, adjust...)
	var r *raw
	vars := map[string]string{}
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
			h.put(acct, f[2], crlf(string(body)), f[4:]...)
		case strings.HasPrefix(l, "C: "):
			if r == nil {
				r = h.connect(h.addr)
			}
			r.send(substitute(l[3:], vars))
		case strings.HasPrefix(l, "S: "):
			if r == nil {
				r = h.connect(h.addr)
			}
			got := r.line()
			if !matchLine(l[3:], got, vars) {
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

// substitute replaces the bound placeholders of a client line.
func substitute(line string, vars map[string]string) string {
	return placeholder.ReplaceAllStringFunc(line, func(p string) string {
		if v, ok := vars[p[2:len(p)-1]]; ok {
			return v
		}
		return p
	})
}

// crlf turns the LF line ends of a test file into CRLF.
func crlf(s string) string {
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
		{"* OK [UIDVALIDITY ${UV}] x", "* OK [UIDVALIDITY 123] x", true},
		{"* OK [UIDVALIDITY ${UV}] x", "* OK [UIDVALIDITY 124] x", false}, // bound to 123 above
		{"T OK ${*}", "T OK anything [at] all", true},
		{"T OK done", "T OK done.", false},
		{"* 1 FETCH (X ${A} Y ${A})", "* 1 FETCH (X 5 Y 5)", true},
		{"* 1 FETCH (X ${B} Y ${B})", "* 1 FETCH (X 5 Y 6)", false},
	}
	vars := map[string]string{}
	for _, tc := range tests {
		if got := matchLine(tc.want, tc.got, vars); got != tc.ok {
			t.Errorf("matchLine(%q, %q) = %v, want %v", tc.want, tc.got, got, tc.ok)
		}
	}
}
