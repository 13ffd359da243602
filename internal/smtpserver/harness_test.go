package smtpserver

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/textproto"
	"postel/internal/netserve"
	"strings"
	"testing"
	"time"

	"postel/internal/auth"
	"postel/internal/deliver"
	"postel/internal/srs"
	"postel/internal/store"
	"postel/internal/store/sqlite"
	"postel/internal/testutil"
	"postel/internal/testutil/accounts"
)

// The test accounts' passwords.
const (
	alicePass = accounts.AlicePass
	bobPass   = accounts.BobPass
)

// harness runs an MX and a submission server (587 with STARTTLS and 465
// with implicit TLS) on 127.0.0.1 over a real SQLite store.
type harness struct {
	t          testing.TB
	st         *sqlite.Store
	cfg        Config
	mx, sub    *Server
	mxAddr     string // port 25 role
	subAddr    string // port 587 role
	subTLSAddr string // port 465 role
	clientTLS  *tls.Config
	logs       *testutil.SyncBuffer
	alice, bob store.Account
}

// newHarness starts the servers; adjust changes their Config. Their log is
// kept in h.logs.
func newHarness(t testing.TB, adjust ...func(*Config)) *harness {
	t.Helper()
	logs := &testutil.SyncBuffer{}
	h := newHarnessLog(t, logs, adjust...)
	h.logs = logs
	return h
}

// newHarnessLog is newHarness with the servers logging to logw.
func newHarnessLog(t testing.TB, logw io.Writer, adjust ...func(*Config)) *harness {
	t.Helper()
	return newHarnessSRS(t, logw, nil, adjust...)
}

// newHarnessSRS is newHarnessLog with the servers' router rewriting and
// routing SRS addresses with rw.
func newHarnessSRS(t testing.TB, logw io.Writer, rw *srs.SRS, adjust ...func(*Config)) *harness {
	t.Helper()
	world := accounts.New(t, t.TempDir())
	st, serverTLS := world.Store, world.ServerTLS
	h := &harness{t: t, st: st, alice: world.Alice, bob: world.Bob, clientTLS: world.ClientTLS}

	h.cfg = Config{
		Hostname:        "mx.example.org",
		MaxMessageBytes: 64 << 10,
		MaxRecipients:   10,
		Limits:          netserve.Limits{MaxConnsPerIP: 200, MaxConns: 400},
		MaxErrors:       5,
		ReadTimeout:     20 * time.Second,
		WriteTimeout:    20 * time.Second,
		DataTimeout:     20 * time.Second,
	}
	for _, f := range adjust {
		f(&h.cfg)
	}
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelDebug}))
	router := deliver.NewRouter(st)
	router.SRS = rw
	th := auth.NewThrottle(auth.ThrottleConfig{
		Window: time.Minute, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond,
		MaxFailures: 1000, Lockout: time.Second,
	})
	authn := auth.NewAuthenticator(st, th, log)
	h.mx = New(ModeMX, h.cfg, st, router, nil, serverTLS, log)
	h.sub = New(ModeSubmission, h.cfg, st, router, authn, serverTLS, log)
	h.mxAddr = h.serve(h.mx, nil)
	h.subAddr = h.serve(h.sub, nil)
	h.subTLSAddr = h.serve(h.sub, serverTLS)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		h.mx.Shutdown(ctx)
		h.sub.Shutdown(ctx)
	})
	return h
}

// serve starts s on a new 127.0.0.1 port, with implicit TLS when tlsConfig
// is set, and returns the address.
func (h *harness) serve(s *Server, tlsConfig *tls.Config) string {
	h.t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.t.Fatal(err)
	}
	addr := l.Addr().String()
	if tlsConfig != nil {
		l = tls.NewListener(l, tlsConfig)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	h.t.Cleanup(func() {
		select {
		case err := <-done:
			if err != nil {
				h.t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			h.t.Errorf("Serve did not return after Shutdown")
		}
	})
	return addr
}

// account reloads an account.
func (h *harness) account(addr string) store.Account {
	h.t.Helper()
	a, err := h.st.Account(context.Background(), addr)
	if err != nil {
		h.t.Fatal(err)
	}
	return a
}

// inbox returns the stored bytes of every message in addr's INBOX.
func (h *harness) inbox(addr string) [][]byte {
	h.t.Helper()
	ctx := context.Background()
	a := h.account(addr)
	mb, err := h.st.Mailbox(ctx, a.ID, "INBOX")
	if err != nil {
		h.t.Fatal(err)
	}
	msgs, err := h.st.Messages(ctx, a.ID, mb.ID, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	var out [][]byte
	for _, m := range msgs {
		r, err := h.st.OpenMessage(ctx, a.ID, mb.ID, m.UID)
		if err != nil {
			h.t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			h.t.Fatal(err)
		}
		if int64(len(b)) != m.Size {
			h.t.Fatalf("message %d: read %d bytes, size says %d", m.UID, len(b), m.Size)
		}
		out = append(out, b)
	}
	return out
}

// queue lists the outbound queue.
func (h *harness) queue() []store.QueueEntry {
	h.t.Helper()
	q, err := h.st.Queue(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return q
}

// splitPrefix cuts a stored message into the server's prefix and the body
// that was sent, which must end it exactly.
func splitPrefix(t testing.TB, stored []byte, sent string) string {
	t.Helper()
	if !bytes.HasSuffix(stored, []byte(sent)) {
		t.Fatalf("stored message does not end with the bytes sent:\nstored %q\nsent   %q", stored, sent)
	}
	return string(stored[:len(stored)-len(sent)])
}

// rawClient speaks SMTP line by line, for what net/smtp cannot do
// (pipelining, BDAT, DSN parameters, malformed data).
type rawClient struct {
	t    testing.TB
	conn net.Conn
	text *textproto.Conn
}

func dialRaw(t testing.TB, addr string) *rawClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	c := &rawClient{t: t, conn: conn, text: textproto.NewConn(conn)}
	t.Cleanup(func() { conn.Close() })
	c.expect(220)
	return c
}

func dialRawTLS(t testing.TB, addr string, cfg *tls.Config) *rawClient {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	c := &rawClient{t: t, conn: conn, text: textproto.NewConn(conn)}
	t.Cleanup(func() { conn.Close() })
	c.expect(220)
	return c
}

// send writes raw bytes.
func (c *rawClient) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatalf("write %q: %v", s, err)
	}
}

// reply reads one (possibly multi-line) reply.
func (c *rawClient) reply() (int, string, error) {
	return c.text.ReadResponse(0)
}

// expect reads a reply and checks its code; it returns the text.
func (c *rawClient) expect(code int) string {
	c.t.Helper()
	got, msg, err := c.reply()
	if got != code {
		c.t.Fatalf("reply %d %q (%v); want %d", got, msg, err, code)
	}
	return msg
}

// cmd sends a command line and checks the reply code.
func (c *rawClient) cmd(code int, format string, args ...any) string {
	c.t.Helper()
	c.send(fmt.Sprintf(format, args...) + "\r\n")
	return c.expect(code)
}

// startTLS upgrades the connection.
func (c *rawClient) startTLS(cfg *tls.Config) {
	c.t.Helper()
	c.cmd(220, "STARTTLS")
	tc := tls.Client(c.conn, cfg)
	if err := tc.Handshake(); err != nil {
		c.t.Fatal(err)
	}
	c.conn = tc
	c.text = textproto.NewConn(tc)
}

// authPlain authenticates with AUTH PLAIN and an initial response.
func (c *rawClient) authPlain(user, pass string, code int) string {
	c.t.Helper()
	return c.cmd(code, "AUTH PLAIN %s", b64("\x00"+user+"\x00"+pass))
}

// expectClosed checks that the server closed the connection.
func (c *rawClient) expectClosed() {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := c.text.ReadLine()
	if err == nil {
		c.t.Fatalf("connection still open: read %q", line)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatal("connection still open (read timed out)")
	}
}

// hasExt tells whether an EHLO reply lists the extension keyword.
func hasExt(ehlo, kw string) bool {
	for line := range strings.SplitSeq(ehlo, "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.EqualFold(f[0], kw) {
			return true
		}
	}
	return false
}

// waitFor polls cond until it holds or 10 seconds pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// connCount reports the connections a server tracks from ip.
func (s *Server) connCount(ip netip.Addr) int {
	return s.admission.Count(ip)
}

var loopback = netip.MustParseAddr("127.0.0.1")

// readAllLines is bufio.Scanner over a string, for checking log lines.
func readAllLines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}
