// Package test holds black-box tests: they build the postel binary, write a
// config with random loopback ports, run the binary as operators do, drive
// it with real clients (swaks, curl, Python's smtplib) and kill it.
package test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"postel/internal/store"
	"postel/internal/store/sqlite"
	"postel/internal/testutil"
	"postel/internal/testutil/pgtest"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "postel-bin-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "postel")
	build := exec.Command("go", "build", "-o", binary, "../cmd/postel")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building postel:", err)
		os.Exit(1)
	}
	code := pgtest.RunMain(m) // m.Run, then stop the shared PostgreSQL if a test started it
	os.RemoveAll(dir)
	os.Exit(code)
}

// instance is one configured postel: its config, data dir and ports.
type instance struct {
	t       testing.TB
	dir     string
	config  string
	extra   string            // the test's part of the config
	ownsCfg bool              // newInstance wrote the config: start may rewrite it with new ports
	ports   map[string]string // listener key -> 127.0.0.1:port
	cmd     *exec.Cmd
	stderr  *testutil.SyncBuffer
	exited  chan error
	running bool
}

// mailListeners are the [listen] keys of the mail protocols.
var mailListeners = []string{"smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s"}

// freePorts returns n distinct loopback addresses nobody listens on right
// now: all are held open until all are chosen, so the kernel cannot hand
// out one twice.
func freePorts(t testing.TB, n int) []string {
	var out []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		out = append(out, l.Addr().String())
	}
	return out
}

// newInstance writes a config for a fresh data dir; extra is appended to it.
func newInstance(t testing.TB, extra string) *instance {
	in := &instance{t: t, dir: t.TempDir(), extra: extra, ownsCfg: true}
	in.config = filepath.Join(in.dir, "postel.toml")
	// The data dir exists, as an operator's would: serve does not create
	// a missing one unless asked.
	if err := os.Mkdir(filepath.Join(in.dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	in.writeConfig()
	in.killAtCleanup()
	return in
}

// killAtCleanup has the test's end kill the server if it still runs, and
// log what the server said if the test failed.
func (in *instance) killAtCleanup() {
	in.t.Cleanup(func() {
		if in.running {
			in.cmd.Process.Kill()
			<-in.exited
		}
		if in.t.Failed() && in.stderr != nil {
			in.t.Logf("server log:\n%s", in.stderr.String())
		}
	})
}

// writeConfig writes the instance's config: every listener on loopback
// port 0, HTTPS and the admin listener too, so that the server takes free
// ports itself (never a privileged or fixed one, never racing another
// process for a port chosen in advance) and reports them in its ready
// line, which start reads into ports; no plain HTTP listener.
func (in *instance) writeConfig() {
	in.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "hostname = \"mx.test.example\"\ndata_dir = %q\nshutdown_timeout = \"20s\"\n[listen]\n", filepath.Join(in.dir, "data"))
	in.ports = map[string]string{}
	for _, k := range append(slices.Clone(mailListeners), "https", "admin") {
		fmt.Fprintf(&b, "%s = \"127.0.0.1:0\"\n", k)
	}
	b.WriteString("http = \"\"\n")
	deadDNS := freePorts(in.t, 1)[0] // nothing answers there
	if !strings.Contains(in.extra, "[dns]") {
		// No resolver answers: remote mail stays queued (temporary
		// failure) unless a test brings its own DNS.
		fmt.Fprintf(&b, "[dns]\nservers = [%q]\ntimeout = \"1s\"\nattempts = 1\n", deadDNS)
	}
	if !strings.Contains(in.extra, "[inbound]") {
		// Tests that are not about the checks of port 25 send from this
		// machine as anyone: trusted, as serve --dev trusts it.
		b.WriteString("[inbound]\ntrusted_networks = [\"127.0.0.0/8\"]\n")
	}
	b.WriteString(in.extra)
	if err := os.WriteFile(in.config, []byte(b.String()), 0o600); err != nil {
		in.t.Fatal(err)
	}
}

// runPostel runs the binary with stdin and returns its combined output and
// exit status.
func runPostel(t *testing.T, stdin string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &ee):
		return out.String(), ee.ExitCode()
	}
	t.Fatalf("postel %s: %v", strings.Join(args, " "), err)
	return "", -1
}

// admin runs a postel admin command and returns its stdout.
func (in *instance) admin(stdin string, args ...string) string {
	in.t.Helper()
	out, err := in.tryAdmin(stdin, args...)
	if err != nil {
		in.t.Fatalf("postel %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (in *instance) tryAdmin(stdin string, args ...string) (string, error) {
	cmd := exec.Command(binary, append(args, "--config", in.config)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// start runs postel serve and waits until it says it is ready: every
// listener bound. A port chosen free but taken by someone else before the
// server bound it is the one failure not the server's: a config written by
// newInstance gets new ports and the server another try.
func (in *instance) start() {
	in.t.Helper()
	for try := 1; ; try++ {
		err := in.tryStart()
		if err == nil {
			return
		}
		if try == 3 || !in.ownsCfg || !strings.Contains(in.stderr.String(), "address already in use") {
			in.t.Fatalf("%v\n%s", err, in.stderr.String())
		}
		in.t.Logf("try %d: %v; again with other ports", try, err)
		in.writeConfig()
	}
}

// tryStart runs postel serve and waits for its ready line.
func (in *instance) tryStart() error {
	in.stderr = &testutil.SyncBuffer{}
	log := newReadyWatch(in.stderr)
	in.cmd = exec.Command(binary, "serve", "--config", in.config)
	in.cmd.Stdout, in.cmd.Stderr = log, log
	if err := in.cmd.Start(); err != nil {
		in.t.Fatal(err)
	}
	in.running = true
	in.exited = make(chan error, 1)
	go func() { in.exited <- in.cmd.Wait() }()
	select {
	case <-log.ready:
		// The addresses the server bound, as its ready line says.
		for k, addr := range readyListeners(log.readyLine) {
			in.ports[k] = addr
		}
		return nil
	case err := <-in.exited:
		in.running = false
		return fmt.Errorf("postel serve exited before it was ready: %v", err)
	case <-time.After(60 * time.Second):
		return errors.New("postel serve did not say it was ready within a minute")
	}
}

// readyWatch passes a server's output to buf and closes ready at the first
// log line saying every listener is bound: msg=ready, or msg="postel
// started", which serve logs once Start has bound them all.
type readyWatch struct {
	buf       *testutil.SyncBuffer
	mu        sync.Mutex
	line      []byte // the unfinished last line
	seen      bool
	readyLine string // the ready line, once seen (read after ready is closed)
	ready     chan struct{}
}

func newReadyWatch(buf *testutil.SyncBuffer) *readyWatch {
	return &readyWatch{buf: buf, ready: make(chan struct{})}
}

func (w *readyWatch) Write(p []byte) (int, error) {
	w.buf.Write(p)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.seen {
		return len(p), nil
	}
	w.line = append(w.line, p...)
	for {
		i := bytes.IndexByte(w.line, '\n')
		if i < 0 {
			return len(p), nil
		}
		if isReadyLine(string(w.line[:i])) {
			w.seen, w.readyLine, w.line = true, string(w.line[:i]), nil
			close(w.ready)
			return len(p), nil
		}
		w.line = w.line[i+1:]
	}
}

// isReadyLine tells a log line (text or JSON) saying the server is ready.
func isReadyLine(l string) bool {
	for _, m := range []string{"msg=ready", `msg="postel started"`, `"msg":"ready"`, `"msg":"postel started"`} {
		if _, rest, ok := strings.Cut(l, m); ok && (rest == "" || strings.ContainsRune(" ,}", rune(rest[0]))) {
			return true
		}
	}
	return false
}

// readyListeners reads the bound addresses from a ready line: listen.KEY=ADDR
// in text form, "listen":{"KEY":"ADDR"} in JSON.
func readyListeners(line string) map[string]string {
	out := map[string]string{}
	if strings.HasPrefix(line, "{") {
		var v struct{ Listen map[string]string }
		if json.Unmarshal([]byte(line), &v) == nil {
			return v.Listen
		}
		return out
	}
	for _, f := range strings.Fields(line) {
		if kv, ok := strings.CutPrefix(f, "listen."); ok {
			if k, addr, ok := strings.Cut(kv, "="); ok {
				out[k] = addr
			}
		}
	}
	return out
}

// kill sends sig and waits for the process to end.
func (in *instance) stop(sig syscall.Signal) error {
	in.t.Helper()
	in.cmd.Process.Signal(sig)
	select {
	case err := <-in.exited:
		in.running = false
		return err
	case <-time.After(30 * time.Second):
		in.t.Fatal("postel did not exit")
		return nil
	}
}

// setup adds example.org and alice@example.org with password.
func (in *instance) setup() {
	in.admin("", "domain", "add", "example.org")
	in.admin(alicePassword+"\n", "user", "add", "alice@example.org", "--password-stdin")
}

const alicePassword = "correct horse battery"

// messages returns the bodies in alice's mailbox, in UID order.
func (in *instance) messages(mailbox string) []string {
	in.t.Helper()
	var out []string
	in.withAlice(mailbox, func(st *sqlite.Store, acct, mb int64) {
		ctx := context.Background()
		msgs, err := st.Messages(ctx, acct, mb, 0)
		if err != nil {
			in.t.Fatal(err)
		}
		for _, m := range msgs {
			r, err := st.OpenMessage(ctx, acct, mb, m.UID)
			if err != nil {
				in.t.Fatal(err)
			}
			b, err := io.ReadAll(r)
			r.Close()
			if err != nil {
				in.t.Fatal(err)
			}
			out = append(out, string(b))
		}
	})
	return out
}

// flags returns the flags of each message of alice's mailbox, in UID order.
func (in *instance) flags(mailbox string) []string {
	in.t.Helper()
	var out []string
	in.withAlice(mailbox, func(st *sqlite.Store, acct, mb int64) {
		msgs, err := st.Messages(context.Background(), acct, mb, 0)
		if err != nil {
			in.t.Fatal(err)
		}
		for _, m := range msgs {
			out = append(out, strings.Join(m.Flags, " "))
		}
	})
	return out
}

// state sums up a mailbox of alice's: UIDNEXT, HIGHESTMODSEQ, count.
func (in *instance) state(mailbox string) string {
	in.t.Helper()
	var out string
	in.withAlice(mailbox, func(st *sqlite.Store, acct, mb int64) {
		m, err := st.Mailbox(context.Background(), acct, mailbox)
		if err != nil {
			in.t.Fatal(err)
		}
		out = fmt.Sprintf("uidnext=%d modseq=%d messages=%d", m.UIDNext, m.HighestModSeq, m.Messages)
	})
	return out
}

// openStore opens the SQLite store beside the server, as admin commands
// do; the caller closes it.
func (in *instance) openStore() *sqlite.Store {
	in.t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(in.dir, "data"), sqlite.Options{})
	if err != nil {
		in.t.Fatal(err)
	}
	return st
}

// withAlice opens the store beside the server, as admin commands do.
func (in *instance) withAlice(mailbox string, fn func(st *sqlite.Store, acct, mb int64)) {
	in.t.Helper()
	ctx := context.Background()
	st := in.openStore()
	defer st.Close()
	a, err := st.Account(ctx, "alice@example.org")
	if err != nil {
		in.t.Fatal(err)
	}
	mb, err := st.Mailbox(ctx, a.ID, mailbox)
	if err != nil {
		in.t.Fatal(err)
	}
	fn(st, a.ID, mb.ID)
}

// queue is the outbound queue of the SQLite store.
func (in *instance) queue() []store.QueueEntry {
	in.t.Helper()
	st := in.openStore()
	defer st.Close()
	q, err := st.Queue(context.Background())
	if err != nil {
		in.t.Fatal(err)
	}
	return q
}

// smtpConn is a raw SMTP dialogue for tests that need exact control.
type smtpConn struct {
	t testing.TB
	c net.Conn
	r *bufio.Reader
}

// dial connects to addr, over TLS when implicitTLS (the certificate is
// not checked); the connection has deadline for all it reads and writes
// and is closed at the test's end.
func dial(t testing.TB, addr string, implicitTLS bool, deadline time.Duration) net.Conn {
	t.Helper()
	var c net.Conn
	var err error
	d := &net.Dialer{Timeout: 30 * time.Second}
	if implicitTLS {
		c, err = tls.DialWithDialer(d, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
	} else {
		c, err = d.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(deadline))
	return c
}

func dialSMTP(t testing.TB, addr string, implicitTLS bool) *smtpConn {
	t.Helper()
	c := dial(t, addr, implicitTLS, 30*time.Second)
	s := &smtpConn{t: t, c: c, r: bufio.NewReader(c)}
	s.expect("220")
	return s
}

// reply reads one (possibly multi-line) reply.
func (s *smtpConn) reply() string {
	s.t.Helper()
	var all strings.Builder
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			s.t.Fatalf("reading reply: %v (so far %q)", err, all.String())
		}
		all.WriteString(line)
		if len(line) < 4 || line[3] != '-' {
			return all.String()
		}
	}
}

func (s *smtpConn) expect(code string) string {
	s.t.Helper()
	r := s.reply()
	if !strings.HasPrefix(r, code) {
		s.t.Fatalf("got %q, want %s", r, code)
	}
	return r
}

func (s *smtpConn) cmd(line, code string) string {
	s.t.Helper()
	s.send(line + "\r\n")
	return s.expect(code)
}

func (s *smtpConn) send(raw string) {
	s.t.Helper()
	if _, err := io.WriteString(s.c, raw); err != nil {
		s.t.Fatal(err)
	}
}

// imapConn is a raw IMAP dialogue, for what imapclient cannot say (the
// QRESYNC parameters of SELECT) or a test must see on the wire.
type imapConn struct {
	t testing.TB
	c net.Conn
	r *bufio.Reader
}

func dialIMAP(t testing.TB, addr string, implicitTLS bool) *imapConn {
	t.Helper()
	c := dial(t, addr, implicitTLS, 30*time.Second)
	s := &imapConn{t: t, c: c, r: bufio.NewReader(c)}
	if g := s.line(); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("IMAP greeting %q", g)
	}
	return s
}

// line reads one line, without its CRLF.
func (s *imapConn) line() string {
	s.t.Helper()
	l, err := s.r.ReadString('\n')
	if err != nil {
		s.t.Fatalf("IMAP read: %v (%q)", err, l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

// until reads the lines up to the tagged response of tag, that one last.
func (s *imapConn) until(tag string) []string {
	s.t.Helper()
	var out []string
	for {
		l := s.line()
		out = append(out, l)
		if strings.HasPrefix(l, tag+" ") {
			return out
		}
	}
}

// cmd sends raw (a tagged command, or a literal's data; CRLF added) and
// returns the tagged response of tag.
func (s *imapConn) cmd(tag, raw string) string {
	s.t.Helper()
	fmt.Fprintf(s.c, "%s\r\n", raw)
	lines := s.until(tag)
	return lines[len(lines)-1]
}

// ok sends command under tag and returns the lines up to its tagged OK;
// anything else is fatal.
func (s *imapConn) ok(tag, command string) []string {
	s.t.Helper()
	fmt.Fprintf(s.c, "%s %s\r\n", tag, command)
	lines := s.until(tag)
	if !strings.HasPrefix(lines[len(lines)-1], tag+" OK") {
		s.t.Fatalf("%s: %s", command, strings.Join(lines, "\n"))
	}
	return lines
}

func mustRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s is not installed: run ./scripts/test.sh, which installs it", name)
	}
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// runOut runs a command that may fail, returning its combined output.
func runOut(name string, args ...string) (string, error) {
	if _, err := exec.LookPath(name); err != nil {
		return "", fmt.Errorf("%s is not installed: run ./scripts/test.sh, which installs it", name)
	}
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

// upgradeTLS switches the dialogue to TLS after a 220 to STARTTLS.
func (s *smtpConn) upgradeTLS() {
	s.t.Helper()
	tc := tls.Client(s.c, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		s.t.Fatal(err)
	}
	s.c, s.r = tc, bufio.NewReader(tc)
}

// plain is the SASL PLAIN initial response (RFC 4616) in base64.
func plain(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
}

// data sends DATA and, after the 354, msg (a header and a body, CRLF line
// ends) as RFC 5321 §4.5.2 has it: dot-stuffed, its last line ended, then
// the lone dot. It returns the reply, which must be code.
func (s *smtpConn) data(msg, code string) string {
	s.t.Helper()
	s.cmd("DATA", "354")
	if !strings.HasSuffix(msg, "\r\n") {
		msg += "\r\n"
	}
	if strings.HasPrefix(msg, ".") {
		msg = "." + msg
	}
	s.send(strings.ReplaceAll(msg, "\r\n.", "\r\n..") + ".\r\n")
	return s.expect(code)
}

// submitMail sends msg from alice to rcpts through the submission port:
// EHLO, STARTTLS and EHLO again when starttls (else in plain text on
// loopback, which the instance must allow), AUTH PLAIN, MAIL, a RCPT for
// each, DATA; every reply a success.
func (in *instance) submitMail(t testing.TB, starttls bool, msg string, rcpts ...string) {
	t.Helper()
	s := dialSMTP(t, in.ports["submission"], false)
	s.cmd("EHLO client.example", "250")
	if starttls {
		s.cmd("STARTTLS", "220")
		s.upgradeTLS()
		s.cmd("EHLO client.example", "250")
	}
	s.cmd("AUTH PLAIN "+plain("alice@example.org", alicePassword), "235")
	s.cmd("MAIL FROM:<alice@example.org>", "250")
	for _, r := range rcpts {
		s.cmd("RCPT TO:<"+r+">", "250")
	}
	s.data(msg, "250")
	s.cmd("QUIT", "221")
}

// submit sends a message with subject from alice to bob@remote.example
// through the submission port, over STARTTLS.
func (in *instance) submit(t testing.TB, subject string) {
	t.Helper()
	in.submitMail(t, true, "From: alice@example.org\r\nTo: bob@remote.example\r\nSubject: "+subject+"\r\n\r\nhello\r\n", "bob@remote.example")
}

// dataToAlice opens a transaction on the MX from x@remote.example to
// alice, up to the 354 to DATA: the message is the caller's to send.
func (in *instance) dataToAlice(t testing.TB) *smtpConn {
	t.Helper()
	s := dialSMTP(t, in.ports["smtp"], false)
	s.cmd("EHLO client.example", "250")
	s.cmd("MAIL FROM:<x@remote.example>", "250")
	s.cmd("RCPT TO:<alice@example.org>", "250")
	s.cmd("DATA", "354")
	return s
}

// TestReadyWatch: the harness's wait for readiness notices the ready line
// however the log is cut into writes, and nothing before it.
func TestReadyWatch(t *testing.T) {
	w := newReadyWatch(&testutil.SyncBuffer{})
	for _, p := range []string{
		"time=x level=INFO msg=listening listener=smtp addr=127.0.0.1:1\n",
		"time=x level=INFO msg=\"postel ",
		"startedish\" x=1\ntime=x level=INFO msg=readyz\n",
		"time=x level=INFO msg=\"postel st",
	} {
		w.Write([]byte(p))
		select {
		case <-w.ready:
			t.Fatalf("ready after %q", p)
		default:
		}
	}
	w.Write([]byte("arted\" hostname=mx\n"))
	select {
	case <-w.ready:
	default:
		t.Fatal("not ready after the postel started line")
	}
	for _, l := range []string{"time=x level=INFO msg=ready listeners=8", `{"time":"x","level":"INFO","msg":"ready"}`} {
		if !isReadyLine(l) {
			t.Errorf("isReadyLine(%q) = false", l)
		}
	}
}
