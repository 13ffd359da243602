package imapserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"postel/internal/netserve"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"postel/internal/auth"
	"postel/internal/deliver"
	"postel/internal/message"
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
// the plain listener (port 143's role, STARTTLS), tlsAddr the implicit
// TLS one (993).
type harness struct {
	t          testing.TB
	st         *sqlite.Store
	dir        string // the store's data directory
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
	t.Helper()
	dir := t.TempDir()
	world := accounts.New(t, dir)
	st, serverTLS := world.Store, world.ServerTLS
	h := &harness{t: t, st: st, dir: dir, logs: &testutil.SyncBuffer{}, alice: world.Alice, bob: world.Bob, clientTLS: world.ClientTLS}

	cfg := Config{
		Hostname:               "imap.example.org",
		Limits:                 netserve.Limits{MaxConnsPerIP: 200, MaxConns: 400},
		AllowPlaintextLoopback: true,
		AppendLimit:            1 << 20,
		MaxCommandErrors:       5,
	}
	for _, f := range adjust {
		f(&cfg)
	}
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	th := auth.NewThrottle(auth.ThrottleConfig{
		Window: time.Minute, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond,
		MaxFailures: 1000, Lockout: time.Second,
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

// put stores a message as APPEND would, with no prefix, so that its sizes
// are those of body; it returns where it went.
func (h *harness) put(acct store.Account, mailbox, body string, flags ...string) store.Delivered {
	h.t.Helper()
	ctx := context.Background()
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
	b, err := sp.Open()
	if err != nil {
		h.t.Fatal(err)
	}
	defer b.Close()
	p, err := message.Parse(b, sp.Size(), message.DefaultLimits())
	if err != nil {
		h.t.Fatal(err)
	}
	meta, err := p.Meta()
	if err != nil {
		h.t.Fatal(err)
	}
	if meta.HeadersText, meta.BodyText, err = message.ExtractText(b, p.Root, deliver.MaxSearchText); err != nil {
		h.t.Fatal(err)
	}
	out, err := h.st.Deliver(ctx, &store.Delivery{Spool: sp, Meta: meta, Targets: []store.Target{{
		AccountID: acct.ID, Mailbox: mailbox, Flags: flags, InternalDate: time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC),
	}}})
	if err != nil {
		h.t.Fatal(err)
	}
	return out[0]
}

// deliverSMTP delivers body to acct's INBOX the way SMTP does, with a
// Received prefix.
func (h *harness) deliverSMTP(acct store.Account, body string) store.Delivered {
	h.t.Helper()
	sp, err := h.st.NewSpool()
	if err != nil {
		h.t.Fatal(err)
	}
	io.WriteString(sp, body)
	if err := sp.Finish(); err != nil {
		h.t.Fatal(err)
	}
	out, err := deliver.Deliver(context.Background(), h.st, deliver.Incoming{
		Spool: sp, Prefix: []byte("Received: from test by imap.example.org\r\n"), Local: []store.Account{acct},
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return out[0]
}

// mailbox reads a mailbox of acct from the store.
func (h *harness) mailbox(acct store.Account, name string) store.Mailbox {
	h.t.Helper()
	mb, err := h.st.Mailbox(context.Background(), acct.ID, name)
	if err != nil {
		h.t.Fatal(err)
	}
	return mb
}

// messages lists a mailbox of acct from the store.
func (h *harness) messages(acct store.Account, name string) []store.Message {
	h.t.Helper()
	msgs, err := h.st.Messages(context.Background(), acct.ID, h.mailbox(acct, name).ID, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	return msgs
}

// client returns an imapclient logged in as alice over implicit TLS.
func (h *harness) client(opts *imapclient.Options) *imapclient.Client {
	h.t.Helper()
	if opts == nil {
		opts = &imapclient.Options{}
	}
	opts.TLSConfig = h.clientTLS
	c, err := imapclient.DialTLS(h.tlsAddr, opts)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	if err := c.Login("alice@example.org", alicePass).Wait(); err != nil {
		h.t.Fatal(err)
	}
	return c
}

// raw is a line-level client for exact-wire tests.
type raw struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

// connect connects to addr.
func (h *harness) connect(addr string) *raw {
	h.t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	return &raw{t: h.t, c: c, br: bufio.NewReader(c)}
}

// dial connects to addr and reads the greeting.
func (h *harness) dial(addr string) *raw {
	h.t.Helper()
	r := h.connect(addr)
	if g := r.line(); !strings.HasPrefix(g, "* OK ") {
		h.t.Fatalf("greeting %q", g)
	}
	return r
}

// login dials the plain listener and logs in as alice.
func (h *harness) login() *raw {
	h.t.Helper()
	r := h.dial(h.addr)
	r.send(`L LOGIN alice@example.org "` + alicePass + `"`)
	r.until("L ")
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
	return strings.TrimSuffix(l, "\r\n")
}

// until reads lines up to the one starting with prefix (a tagged
// response) and returns them all, that one last.
func (r *raw) until(prefix string) []string {
	r.t.Helper()
	var out []string
	for {
		l := r.line()
		out = append(out, l)
		if strings.HasPrefix(l, prefix) {
			return out
		}
	}
}

// cmd sends a tagged command and returns its responses, the tagged one
// last; the tag is "T".
func (r *raw) cmd(line string) []string {
	r.t.Helper()
	r.send("T " + line)
	return r.until("T ")
}
