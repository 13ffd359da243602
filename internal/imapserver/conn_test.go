package imapserver

import (
	"bufio"
	"compress/flate"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xdg-go/scram"

	"postel/internal/auth"
	"postel/internal/store"
	"postel/internal/testutil"
)

// TestCompress: after COMPRESS DEFLATE (RFC 4978) both directions are
// compressed, and every response a client waits for arrives without it
// sending more: tagged responses, literals, and IDLE updates.
func TestCompress(t *testing.T) {
	h := newHarness(t)
	h.put(h.alice, "INBOX", testMsg)
	r := h.login()
	r.send("z COMPRESS DEFLATE")
	if l := r.line(); l != "z OK DEFLATE active" {
		t.Fatalf("COMPRESS: %q", l)
	}
	zr := bufio.NewReader(flate.NewReader(r.br))
	zw, err := flate.NewWriter(r.c, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	send := func(l string) {
		t.Helper()
		io.WriteString(zw, l+"\r\n")
		if err := zw.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	// read waits for one line, which must come without more input.
	read := func() string {
		t.Helper()
		r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		l, err := zr.ReadString('\n')
		if err != nil {
			t.Fatalf("reading a compressed response: %v (got %q)", err, l)
		}
		return strings.TrimSuffix(l, "\r\n")
	}
	until := func(prefix string) []string {
		t.Helper()
		var out []string
		for {
			l := read()
			out = append(out, l)
			if strings.HasPrefix(l, prefix) {
				return out
			}
		}
	}
	send("a NOOP")
	if l := read(); l != "a OK NOOP completed" {
		t.Fatalf("NOOP: %q", l)
	}
	send("b COMPRESS DEFLATE")
	if l := read(); !strings.HasPrefix(l, "b NO [COMPRESSIONACTIVE]") {
		t.Fatalf("second COMPRESS: %q", l)
	}
	send("c CAPABILITY")
	if got := until("c "); strings.Contains(got[0], "COMPRESS=") {
		t.Errorf("capabilities still offer COMPRESS: %q", got[0])
	}
	send("d SELECT INBOX")
	until("d ")
	send("e FETCH 1 BODY.PEEK[]")
	got := strings.Join(until("e "), "\r\n")
	if !strings.Contains(got, "Subject: Hello there\r\n") || !strings.HasSuffix(got, "e OK FETCH completed") {
		t.Fatalf("FETCH through COMPRESS: %q", got)
	}
	send("f IDLE")
	if l := read(); l != "+ idling" {
		t.Fatalf("IDLE: %q", l)
	}
	h.deliverSMTP(h.alice, testMsg)
	if l := read(); l != "* 2 EXISTS" {
		t.Fatalf("in IDLE: %q", l)
	}
	if l := read(); l != "* 2 RECENT" {
		t.Fatalf("in IDLE: %q", l)
	}
	send("DONE")
	if l := read(); l != "f OK IDLE completed" {
		t.Fatalf("after DONE: %q", l)
	}
}

// TestStartTLS: STARTTLS, then LOGIN over TLS; input pipelined after
// STARTTLS is not taken (RFC 9051 §6.2.1).
func TestStartTLS(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.AllowPlaintextLoopback = false })
	r := h.dial(h.addr)
	r.send("a STARTTLS")
	if l := r.line(); l != "a OK Begin TLS negotiation now" {
		t.Fatalf("STARTTLS: %q", l)
	}
	tc := tls.Client(r.c, h.clientTLS)
	tr := &raw{t: t, c: tc, br: bufio.NewReader(tc)}
	got := tr.cmd("CAPABILITY")
	if !strings.Contains(got[0], "AUTH=PLAIN") || strings.Contains(got[0], "STARTTLS") || strings.Contains(got[0], "LOGINDISABLED") {
		t.Errorf("capabilities over TLS: %q", got[0])
	}
	got = tr.cmd(`LOGIN alice@example.org "` + alicePass + `"`)
	if !strings.HasPrefix(got[len(got)-1], "T OK ") {
		t.Fatalf("LOGIN over TLS: %q", got)
	}

	// A command sent in the clear right behind STARTTLS is discarded, not
	// run once TLS is up.
	r = h.dial(h.addr)
	r.send("a STARTTLS\r\nb LOGIN alice@example.org \"" + alicePass + "\"")
	if l := r.line(); l != "a OK Begin TLS negotiation now" {
		t.Fatalf("STARTTLS: %q", l)
	}
	tc = tls.Client(r.c, h.clientTLS)
	tr = &raw{t: t, c: tc, br: bufio.NewReader(tc)}
	if got := tr.cmd("SELECT INBOX"); got[0] != "T BAD Command not allowed in this state" {
		t.Fatalf("after STARTTLS with pipelined LOGIN: %q", got)
	}
}

// TestAuthenticateSCRAM runs SCRAM-SHA-256 (RFC 7677) with an initial
// response (SASL-IR, RFC 4959) over implicit TLS.
func TestAuthenticateSCRAM(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.AllowPlaintextLoopback = false })
	tc, err := tls.Dial("tcp", h.tlsAddr, h.clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	r := &raw{t: t, c: tc, br: bufio.NewReader(tc)}
	r.line() // greeting
	client, err := scram.SHA256.NewClient("alice@example.org", alicePass, "")
	if err != nil {
		t.Fatal(err)
	}
	conv := client.NewConversation()
	first, _ := conv.Step("")
	r.send("a AUTHENTICATE SCRAM-SHA-256 " + base64.StdEncoding.EncodeToString([]byte(first)))
	for i := 0; i < 3; i++ {
		l := r.line()
		if strings.HasPrefix(l, "a OK ") {
			if !conv.Valid() {
				t.Fatal("logged in without a valid server signature")
			}
			return
		}
		if !strings.HasPrefix(l, "+ ") {
			t.Fatalf("SCRAM step %d: %q", i, l)
		}
		challenge, err := base64.StdEncoding.DecodeString(l[2:])
		if err != nil {
			t.Fatal(err)
		}
		resp, err := conv.Step(string(challenge))
		if err != nil {
			t.Fatalf("SCRAM step %d: %v", i, err)
		}
		r.send(base64.StdEncoding.EncodeToString([]byte(resp)))
	}
	t.Fatal("SCRAM did not finish")
}

// TestShutdown: every session gets BYE, in IDLE or waiting for a command,
// Shutdown returns, and the listeners are closed.
func TestShutdown(t *testing.T) {
	h := newHarness(t)
	waiting := h.login()
	idling := h.login()
	idling.cmd("SELECT INBOX")
	idling.send("I IDLE")
	if l := idling.line(); l != "+ idling" {
		t.Fatalf("IDLE: %q", l)
	}
	fresh := h.dial(h.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for name, r := range map[string]*raw{"waiting": waiting, "idling": idling, "fresh": fresh} {
		if l := r.line(); l != "* BYE Server shutting down" {
			t.Errorf("%s: %q", name, l)
		}
		if _, err := r.br.ReadString('\n'); err != io.EOF {
			t.Errorf("%s: after BYE: %v", name, err)
		}
	}
	if c, err := net.Dial("tcp", h.addr); err == nil {
		c.Close()
		t.Error("listener still accepts after Shutdown")
	}
}

// TestLimits: connections per address, HTTP requests, long lines and the
// timeouts before and after login.
func TestLimits(t *testing.T) {
	t.Run("per IP", func(t *testing.T) {
		h := newHarness(t, func(c *Config) { c.Limits.MaxConnsPerIP = 2 })
		h.dial(h.addr)
		h.dial(h.addr)
		r := h.connect(h.addr)
		if l := r.line(); l != "* BYE Too many connections from your address" {
			t.Fatalf("third connection: %q", l)
		}
	})
	t.Run("HTTP", func(t *testing.T) {
		h := newHarness(t)
		r := h.dial(h.addr)
		r.send("GET / HTTP/1.1")
		r.send("Host: imap.example.org")
		// Closed without a word (EOF, or a reset for the unread input).
		if l, err := r.br.ReadString('\n'); err == nil || l != "" {
			t.Fatalf("HTTP request answered %q, %v", l, err)
		}
	})
	t.Run("long line", func(t *testing.T) {
		h := newHarness(t)
		r := h.login()
		r.send("x NOOP " + strings.Repeat("a", 100<<10))
		if l := r.line(); !strings.HasPrefix(l, "x BAD [TOOBIG]") {
			t.Fatalf("long line: %q", l)
		}
		if got := r.cmd("NOOP"); got[0] != "T OK NOOP completed" {
			t.Fatalf("after the long line: %q", got)
		}
	})
	t.Run("login timeout", func(t *testing.T) {
		h := newHarness(t, func(c *Config) { c.Limits.UnauthTimeout = 200 * time.Millisecond })
		r := h.dial(h.addr)
		if l := r.line(); l != "* BYE Login timeout" {
			t.Fatalf("%q", l)
		}
	})
	t.Run("autologout", func(t *testing.T) {
		h := newHarness(t, func(c *Config) { c.IdleTimeout = 300 * time.Millisecond })
		r := h.login()
		if l := r.line(); l != "* BYE Autologout; idle for too long" {
			t.Fatalf("%q", l)
		}
		r = h.login()
		r.send("I IDLE")
		r.line()
		if l := r.line(); l != "* BYE Autologout; idle for too long" {
			t.Fatalf("in IDLE: %q", l)
		}
	})
}

// panicStore panics in ListMailboxes.
type panicStore struct{ store.Store }

func (panicStore) ListMailboxes(context.Context, int64) ([]store.Mailbox, error) {
	panic("test panic")
}

// TestPanicRecovered: a panic in a command is answered NO [SERVERBUG] and
// logged; the session and the server go on.
func TestPanicRecovered(t *testing.T) {
	h := newHarness(t)
	logs := &testutil.SyncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	r := h.loginThrough(panicStore{h.st}, log)
	if got := r.cmd(`LIST "" *`); got[len(got)-1] != "T NO [SERVERBUG] Internal server error, try again later" {
		t.Fatalf("LIST: %q", got)
	}
	if got := r.cmd("NOOP"); got[0] != "T OK NOOP completed" {
		t.Fatalf("NOOP after the panic: %q", got)
	}
	if !strings.Contains(logs.String(), `msg="panic in command" service=imap`) {
		t.Errorf("panic not logged:\n%s", logs)
	}
}

// TestListWorkBounded: many long patterns over many long mailbox names get
// NO [LIMIT] at once instead of minutes of matching.
func TestListWorkBounded(t *testing.T) {
	h := newHarness(t)
	for i := range 60 {
		name := fmt.Sprintf("%s%03d", strings.Repeat("n", 900), i)
		if _, err := h.st.CreateMailbox(context.Background(), h.alice.ID, name, ""); err != nil {
			t.Fatal(err)
		}
	}
	r := h.login()
	pattern := `"` + strings.Repeat("*n", 900) + `Z"`
	var b strings.Builder
	b.WriteString(`LIST "" (`)
	for i := range 30 { // within the 64 KiB line
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(pattern)
	}
	b.WriteString(")")
	start := time.Now()
	resp := r.cmd(b.String())
	if last := resp[len(resp)-1]; !strings.HasPrefix(last, "T NO [LIMIT]") {
		t.Fatalf("costly LIST answered %q", last)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("refusal took %v", d)
	}
	// An ordinary LIST still works.
	if resp := r.cmd(`LIST "" "INBOX"`); !strings.HasPrefix(resp[len(resp)-1], "T OK") {
		t.Fatalf("LIST INBOX: %q", resp)
	}
}

// downStore is a store whose database cannot be reached for the calls that
// read mailboxes and accounts.
type downStore struct{ store.Store }

var errDown = fmt.Errorf("%w: dial tcp 127.0.0.1:5432: connection refused", store.ErrUnavailable)

func (downStore) ListMailboxes(context.Context, int64) ([]store.Mailbox, error) { return nil, errDown }
func (downStore) AccountByID(context.Context, int64) (store.Account, error) {
	return store.Account{}, errDown
}

// TestStoreUnavailable: while the store cannot be reached, commands get
// NO [UNAVAILABLE] (RFC 5530 §3), a temporary failure, not [SERVERBUG];
// APPEND is refused before its literal.
func TestStoreUnavailable(t *testing.T) {
	h := newHarness(t)
	logs := &testutil.SyncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	r := h.loginThrough(downStore{h.st}, log)
	if got := r.cmd(`LIST "" *`); got[len(got)-1] != "T NO [UNAVAILABLE] Mail store unavailable, try again later" {
		t.Fatalf("LIST: %q", got)
	}
	r.send("A APPEND INBOX {5}")
	if got := r.line(); got != "A NO [UNAVAILABLE] Mail store unavailable, try again later" {
		t.Fatalf("APPEND: %q", got)
	}
	if got := r.cmd("NOOP"); got[0] != "T OK NOOP completed" {
		t.Fatalf("NOOP: %q", got)
	}
}

// fullStore is a store whose disk fills up while APPEND literals arrive.
type fullStore struct{ store.Store }

func (f fullStore) NewSpool() (store.Spool, error) {
	sp, err := f.Store.NewSpool()
	return fullSpool{sp}, err
}

type fullSpool struct{ store.Spool }

func (fullSpool) Write([]byte) (int, error) {
	return 0, &os.PathError{Op: "write", Path: "spool", Err: syscall.ENOSPC}
}

// TestAppendDiskFull: APPEND on a full disk is answered NO [UNAVAILABLE]
// (RFC 5530 §3: temporary, try again later), not a bare NO; the session
// goes on.
func TestAppendDiskFull(t *testing.T) {
	h := newHarness(t)
	r := h.loginThrough(fullStore{h.st}, nil)
	r.send("A APPEND INBOX {5+}")
	r.send("hello")
	if got := r.line(); got != "A NO [UNAVAILABLE] Server storage is full, try again later" {
		t.Fatalf("APPEND: %q", got)
	}
	if got := r.cmd("NOOP"); got[0] != "T OK NOOP completed" {
		t.Fatalf("NOOP: %q", got)
	}
}

// loginThrough serves h's accounts through st (a store h.st seen through
// a wrapper that fails some calls) on a Server of its own, without TLS,
// logging to log (nil: none), and logs alice in.
func (h *harness) loginThrough(st Store, log *slog.Logger) *raw {
	h.t.Helper()
	return h.loginVia(st, Config{AllowPlaintextLoopback: true}, log, "alice@example.org", alicePass)
}

// loginVia serves h's accounts through st on a Server of its own with
// cfg (plaintext on loopback, no TLS), logging to log (nil: none), and
// logs address in.
func (h *harness) loginVia(st Store, cfg Config, log *slog.Logger, address, pass string) *raw {
	h.t.Helper()
	srv := New(cfg, st, auth.NewAuthenticator(h.st, nil, nil), nil, log)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.t.Fatal(err)
	}
	go srv.Serve(l)
	h.t.Cleanup(func() { srv.Shutdown(context.Background()) })
	r := h.dial(l.Addr().String())
	r.send(`L LOGIN ` + address + ` "` + pass + `"`)
	r.until("L ")
	return r
}
