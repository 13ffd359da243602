package imapserver

import (
	"bufio"
	"compress/flate"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"postel/internal/testutil"
)

// TestConformance runs the scripted IMAP sessions of testdata/conformance
// (every .txt file below it; the format is in its README.md) against the
// real server over TCP, each script on a server of its own, and logs how
// many scripts and commands ran.
func TestConformance(t *testing.T) {
	var files []string
	err := filepath.WalkDir("testdata/conformance", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".txt") {
			files = append(files, path)
		}
		return err
	})
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	var scripts, commands, sessions atomic.Int64
	t.Run("scripts", func(t *testing.T) {
		for _, f := range files {
			name := strings.TrimSuffix(strings.TrimPrefix(filepath.ToSlash(f), "testdata/conformance/"), ".txt")
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				st := runScript(t, f)
				scripts.Add(1)
				commands.Add(int64(st.commands))
				sessions.Add(int64(st.sessions))
			})
		}
	})
	t.Logf("conformance: %d scripts, %d sessions, %d commands answered", scripts.Load(), sessions.Load(), commands.Load())
}

// scriptStats counts what a script exchanged: its sessions, and its
// commands (tagged responses matched).
type scriptStats struct{ sessions, commands int }

// scriptSession is one connection of a script.
type scriptSession struct {
	t    testing.TB
	name string
	c    net.Conn // for deadlines; the TLS connection after STARTTLS
	r    *bufio.Reader
	w    io.Writer
	zw   *flate.Writer // after COMPRESS DEFLATE
	tags map[string]bool
}

func (s *scriptSession) send(line string) {
	s.t.Helper()
	s.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := io.WriteString(s.w, line+"\r\n")
	if err == nil && s.zw != nil {
		err = s.zw.Flush()
	}
	if err != nil {
		s.t.Fatalf("session %q: send %q: %v", s.name, line, err)
	}
}

// line reads the next line without its CRLF, waiting up to wait for it;
// on an error, line is what was read of it.
func (s *scriptSession) line(wait time.Duration) (line string, err error) {
	s.c.SetReadDeadline(time.Now().Add(wait))
	l, err := s.r.ReadString('\n')
	if err != nil {
		return l, err
	}
	return strings.TrimSuffix(l, "\r\n"), nil
}

// quiet fails when the session receives anything within wait.
func (s *scriptSession) quiet(where string, wait time.Duration) {
	s.t.Helper()
	if l, err := s.line(wait); err == nil || l != "" {
		s.t.Fatalf("%s: session %q got unexpected output %q", where, s.name, l)
	}
}

// scriptWait is how long an S line waits for its line: asynchronous
// responses (IDLE, another session's change) are waited for this way. It
// is long because a LOGIN hashes its password (argon2id), which takes
// seconds under -race on a loaded machine.
const scriptWait = 30 * time.Second

// tagged matches a tagged status response; its tag is the first group.
var tagged = regexp.MustCompile(`^([^ *+]+) (OK|NO|BAD)( |$)`)

// runScript runs one script (see testdata/conformance/README.md; the
// single-session scripts of testdata/wire use the same format) on a
// server of its own.
func runScript(t testing.TB, path string) scriptStats {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	steps, err := testutil.ParseScript(string(data))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var adjust []func(*Config)
	for _, st := range steps {
		if st.Kind != testutil.Directive || st.Args[0] != "config" {
			continue
		}
		if len(st.Args) != 2 {
			t.Fatalf("%s:%d: @config NAME", path, st.Line)
		}
		switch st.Args[1] {
		case "tls-only":
			adjust = append(adjust, func(c *Config) { c.AllowPlaintextLoopback = false })
		case "objectid": // an ObjectIDKey: OBJECTID on
			adjust = append(adjust, withObjectIDKey)
		default:
			t.Fatalf("%s:%d: unknown @config %q", path, st.Line, st.Args[1])
		}
	}
	h := newHarness(t, adjust...)
	vars := testutil.Vars{}
	sessions := map[string]*scriptSession{}
	var stats scriptStats
	session := func(name string) *scriptSession {
		if s := sessions[name]; s != nil {
			return s
		}
		c, err := net.Dial("tcp", h.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		s := &scriptSession{t: t, name: name, c: c, r: bufio.NewReader(c), w: c, tags: map[string]bool{}}
		sessions[name] = s
		stats.sessions++
		return s
	}
	// count notes a tagged response to a command the session sent.
	count := func(s *scriptSession, line string) {
		if m := tagged.FindStringSubmatch(line); m != nil && s.tags[m[1]] {
			delete(s.tags, m[1])
			stats.commands++
		}
	}
	for _, st := range steps {
		where := fmt.Sprintf("%s:%d", path, st.Line)
		switch st.Kind {
		case testutil.Send:
			s := session(st.Session)
			line := vars.Substitute(st.Text)
			if tag, _, ok := strings.Cut(line, " "); ok {
				s.tags[tag] = true
			}
			s.send(line)
		case testutil.Expect:
			s := session(st.Session)
			got, err := s.line(scriptWait)
			if err != nil {
				t.Fatalf("%s: session %q: want %s\n got %v (read %q)", where, st.Session, st.Text, err, got)
			}
			if !vars.Match(st.Text, got) {
				t.Fatalf("%s: session %q:\n want %s\n  got %s", where, st.Session, st.Text, got)
			}
			count(s, got)
		case testutil.ExpectAnyOrder:
			s := session(st.Session)
			var wants, gots []string
			for _, e := range st.Block {
				got, err := s.line(scriptWait)
				if err != nil {
					t.Fatalf("%s: session %q: %v after %q", where, st.Session, err, gots)
				}
				wants, gots = append(wants, e.Text), append(gots, got)
			}
			if !vars.MatchAnyOrder(wants, gots) {
				t.Fatalf("%s: session %q, in any order:\n want %s\n  got %s", where, st.Session,
					strings.Join(wants, "\n      "), strings.Join(gots, "\n      "))
			}
			for _, got := range gots {
				count(s, got)
			}
		case testutil.Directive:
			runDirective(t, h, where, st.Args, session)
		}
	}
	// Nothing more may come on any session.
	for _, s := range sessions {
		s.quiet("end of script", 50*time.Millisecond)
	}
	return stats
}

// runDirective runs an @ line of a script.
func runDirective(t testing.TB, h *harness, where string, args []string, session func(string) *scriptSession) {
	// sessionArg is the session named by args[i], "" when absent.
	sessionArg := func(i int) *scriptSession {
		if len(args) > i+1 {
			t.Fatalf("%s: @%s takes at most %d arguments", where, args[0], i)
		}
		if len(args) == i+1 {
			return session(args[i])
		}
		return session("")
	}
	switch args[0] {
	case "config": // read before the server started
	case "put":
		if len(args) < 4 {
			t.Fatalf("%s: @put ACCOUNT MAILBOX FILE [FLAG...]", where)
		}
		acct := h.alice
		if args[1] == "bob" {
			acct = h.bob
		}
		body, err := os.ReadFile(filepath.Join("testdata/messages", args[3]))
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		h.put(acct, args[2], testutil.CRLF(string(body)), args[4:]...)
	case "quota":
		if len(args) != 3 {
			t.Fatalf("%s: @quota ADDRESS BYTES", where)
		}
		n, err := strconv.ParseInt(args[2], 10, 64)
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		if err := h.st.SetQuota(context.Background(), args[1], n); err != nil {
			t.Fatalf("%s: %v", where, err)
		}
	case "quiet":
		// Nothing arrives on the session for a while (e.g. no EXPUNGE
		// while no command is in progress, RFC 9051 §7.5.1).
		sessionArg(1).quiet(where, 200*time.Millisecond)
	case "starttls":
		// The tagged OK to STARTTLS was matched: the handshake starts.
		s := sessionArg(1)
		if s.r.Buffered() > 0 {
			t.Fatalf("%s: plaintext after the STARTTLS response", where)
		}
		cfg := h.clientTLS.Clone()
		tc := tls.Client(s.c, cfg)
		s.c.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			t.Fatalf("%s: TLS handshake: %v", where, err)
		}
		s.c, s.r, s.w = tc, bufio.NewReader(tc), tc
	case "compress":
		// The tagged OK to COMPRESS DEFLATE was matched: both directions
		// are raw DEFLATE from here (RFC 4978).
		s := sessionArg(1)
		zw, err := flate.NewWriter(s.w, flate.DefaultCompression)
		if err != nil {
			t.Fatal(err)
		}
		s.r = bufio.NewReader(flate.NewReader(s.r))
		s.w, s.zw = zw, zw
	default:
		t.Fatalf("%s: unknown directive @%s", where, args[0])
	}
}

// failRecorder is a testing.TB whose Fatal and Fatalf record the failure
// and end the goroutine, so that a test can check a script fails.
type failRecorder struct {
	testing.TB
	msg string
}

func (f *failRecorder) Fatal(args ...any) { f.msg = fmt.Sprint(args...); runtime.Goexit() }
func (f *failRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// TestConformanceRunnerStrict checks that the runner fails a script for a
// wrong line, a line left unread, output where @quiet wants none, and an
// @any-order block that does not match.
func TestConformanceRunnerStrict(t *testing.T) {
	const login = "S: * OK [CAPABILITY ${*}] imap.example.org Postel IMAP server ready\n" +
		"C: L LOGIN alice@example.org \"alice's correct horse\"\n" +
		"S: L OK [CAPABILITY ${*}] Logged in\n"
	tests := []struct{ name, script, want string }{
		{"wrong line", login + "C: a NOOP\nS: a OK NOOP done\n", "want a OK NOOP done"},
		{"line left unread", login + "C: a LOGOUT\nS: * BYE Logging out\n", `unexpected output "a OK LOGOUT completed`},
		{"output while quiet", login + "C: a NOOP\n@quiet\nS: a OK NOOP completed\n", `unexpected output "a OK NOOP completed"`},
		{"any order", login + "C: a LIST \"\" \"INBOX\"\n@any-order\nS: a OK LIST completed\nS: * LIST () \"/\" INBOX\n@end\n", "in any order"},
		{"wrong session", "S2: * OK [CAPABILITY ${*}] imap.example.org Postel IMAP server ready\nC2: a NOOP\nS: a OK NOOP completed\n", "want a OK NOOP completed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "script.txt")
			if err := os.WriteFile(path, []byte(tc.script), 0o600); err != nil {
				t.Fatal(err)
			}
			rec := &failRecorder{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				runScript(rec, path)
			}()
			<-done
			if !strings.Contains(rec.msg, tc.want) {
				t.Errorf("failure %q, want one containing %q", rec.msg, tc.want)
			}
		})
	}
}
