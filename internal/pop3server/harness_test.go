package pop3server

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"postel/internal/netserve"
	"strings"
	"testing"
	"time"

	"postel/internal/auth"
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

// harness runs a Server over a real SQLite store on 127.0.0.1: addr is
// the plain listener (port 110's role, STLS), tlsAddr the implicit TLS
// one (995).
type harness struct {
	t          testing.TB
	st         *sqlite.Store
	srv        *Server
	addr       string
	tlsAddr    string
	clientTLS  *tls.Config
	logs       *testutil.SyncBuffer
	alice, bob store.Account
}

// newHarness starts a server; adjust changes its Config. Plaintext login
// from loopback is allowed unless adjust says otherwise.
func newHarness(t testing.TB, adjust ...func(*Config)) *harness {
	return newHarnessLog(t, nil, adjust...)
}

// newHarnessLog is newHarness with the server's log going to w (nil: a
// buffer shown when the test fails; io.Discard: no logging at all).
func newHarnessLog(t testing.TB, w io.Writer, adjust ...func(*Config)) *harness {
	t.Helper()
	world := accounts.New(t, t.TempDir())
	st, serverTLS := world.Store, world.ServerTLS
	h := &harness{t: t, st: st, logs: &testutil.SyncBuffer{}, alice: world.Alice, bob: world.Bob, clientTLS: world.ClientTLS}

	cfg := Config{
		Hostname:               "pop.example.org",
		Limits:                 netserve.Limits{MaxConnsPerIP: 200, MaxConns: 400},
		AllowPlaintextLoopback: true,
		MaxCommandErrors:       5,
	}
	for _, f := range adjust {
		f(&cfg)
	}
	if w == nil {
		w = h.logs
	}
	log := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if w == io.Discard {
		log = slog.New(slog.DiscardHandler)
	}
	th := auth.NewThrottle(auth.ThrottleConfig{
		Window: time.Minute, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond,
		MaxFailures: 100000, Lockout: time.Second,
	})
	authn := auth.NewAuthenticator(st, th, log)
	h.srv = New(cfg, st, authn, serverTLS, log)
	h.srv.writeTimeout = 20 * time.Second
	h.addr = h.serve(nil)
	h.tlsAddr = h.serve(serverTLS)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", h.logs.String())
		}
	})
	return h
}

// serve starts the server on a new 127.0.0.1 port, with implicit TLS
// when tlsConfig is set, and returns the address.
func (h *harness) serve(tlsConfig *tls.Config) string {
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
	go func() { done <- h.srv.Serve(l) }()
	h.t.Cleanup(func() {
		select {
		case err := <-done:
			if err != ErrServerClosed {
				h.t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			h.t.Errorf("Serve did not return after Shutdown")
		}
	})
	return addr
}

// put stores body in acct's INBOX as it is, with prefix served before it
// (the header fields SMTP delivery adds), and returns where it went.
func (h *harness) put(acct store.Account, prefix, body string) store.Delivered {
	h.t.Helper()
	sp, err := h.st.NewSpool()
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := io.WriteString(sp, body); err != nil {
		h.t.Fatal(err)
	}
	if err := sp.Finish(); err != nil {
		h.t.Fatal(err)
	}
	out, err := h.st.Deliver(context.Background(), &store.Delivery{
		Spool: sp, Prefix: []byte(prefix),
		Meta:    store.MessageMeta{Envelope: []byte("{}"), Structure: []byte("{}")},
		Targets: []store.Target{{AccountID: acct.ID}},
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return out[0]
}

// inbox lists acct's INBOX from the store.
func (h *harness) inbox(acct store.Account) (store.Mailbox, []store.Message) {
	h.t.Helper()
	ctx := context.Background()
	mb, err := h.st.Mailbox(ctx, acct.ID, "INBOX")
	if err != nil {
		h.t.Fatal(err)
	}
	msgs, err := h.st.Messages(ctx, acct.ID, mb.ID, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	return mb, msgs
}

// stored returns a message as the store (and IMAP BODY[]) serves it.
func (h *harness) stored(acct store.Account, uid uint32) string {
	h.t.Helper()
	mb, _ := h.inbox(acct)
	r, err := h.st.OpenMessage(context.Background(), acct.ID, mb.ID, uid)
	if err != nil {
		h.t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		h.t.Fatal(err)
	}
	return string(b)
}

// caFile writes the test certificate as PEM, for clients that verify it.
func (h *harness) caFile() string {
	cert, err := accounts.Cert()
	if err != nil {
		h.t.Fatal(err)
	}
	path := filepath.Join(h.t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		h.t.Fatal(err)
	}
	return path
}

// raw is a line-level client for exact-wire tests.
type raw struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

// connect connects to addr, over TLS when tlsConfig is set.
func (h *harness) connect(addr string, tlsConfig *tls.Config) *raw {
	h.t.Helper()
	var c net.Conn
	var err error
	if tlsConfig != nil {
		c, err = tls.Dial("tcp", addr, tlsConfig)
	} else {
		c, err = net.Dial("tcp", addr)
	}
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	return &raw{t: h.t, c: c, br: bufio.NewReader(c)}
}

// dial connects to the plain listener and reads the greeting.
func (h *harness) dial() *raw {
	h.t.Helper()
	r := h.connect(h.addr, nil)
	if g := r.line(); !strings.HasPrefix(g, "+OK ") {
		h.t.Fatalf("greeting %q", g)
	}
	return r
}

// login dials the plain listener and logs in as alice with USER/PASS.
func (h *harness) login() *raw {
	h.t.Helper()
	r := h.dial()
	r.expect("USER alice@example.org", "+OK ")
	r.expect("PASS "+alicePass, "+OK ")
	return r
}

func (r *raw) send(line string) {
	r.t.Helper()
	r.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(r.c, line+"\r\n"); err != nil {
		r.t.Fatalf("send %q: %v", line, err)
	}
}

// line reads one line without its CRLF.
func (r *raw) line() string {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	l, err := r.br.ReadString('\n')
	if err != nil {
		r.t.Fatalf("read: %v (got %q)", err, l)
	}
	if !strings.HasSuffix(l, "\r\n") {
		r.t.Fatalf("line without CRLF: %q", l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

// expect sends a command and checks that the reply starts with prefix;
// it returns the reply.
func (r *raw) expect(cmd, prefix string) string {
	r.t.Helper()
	r.send(cmd)
	l := r.line()
	if !strings.HasPrefix(l, prefix) {
		r.t.Fatalf("%s: got %q, want %q...", strings.Fields(cmd)[0], l, prefix)
	}
	return l
}

// multi sends a command expecting a multi-line reply and returns the
// status line and the raw body: the octets between it and the
// terminating ".", CRLFs and stuffing as sent.
func (r *raw) multi(cmd string) (status, body string) {
	r.t.Helper()
	status = r.expect(cmd, "+OK")
	var b strings.Builder
	for {
		l := r.line()
		if l == "." {
			return status, b.String()
		}
		b.WriteString(l + "\r\n")
	}
}

// closed checks that the server closes the connection with nothing more
// to say.
func (r *raw) closed() {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if extra, err := r.br.ReadString('\n'); err != io.EOF || extra != "" {
		r.t.Fatalf("connection not closed: read %q, %v", extra, err)
	}
}

// unstuff undoes the byte-stuffing of a multi-line reply body.
func unstuff(body string) string {
	lines := strings.SplitAfter(body, "\r\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, ".")
	}
	return strings.Join(lines, "")
}
