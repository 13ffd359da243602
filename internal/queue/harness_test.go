package queue

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-smtp"

	"postel/internal/certs"
	"postel/internal/deliver"
	"postel/internal/dns"
	"postel/internal/dns/dnstest"
	"postel/internal/store"
	"postel/internal/store/sqlite"
	"postel/internal/testutil"
)

// env is a sending Postel: a store with the account alice@example.org, a
// test DNS server, and a dialer that maps MX addresses to local servers.
type env struct {
	t     testing.TB
	ctx   context.Context
	st    *sqlite.Store
	alice store.Account
	dns   *dnstest.Server
	res   *dns.Client
	roots *x509.CertPool
	logs  *testutil.SyncBuffer

	mu     sync.Mutex
	routes map[string]string // MX address "ip:port" -> local server address
	dials  []string          // addresses dialled, in order
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.AddDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	alice, err := st.CreateAccount(ctx, "alice@example.org", store.Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	srv := dnstest.New(t)
	res, err := dns.New(dns.Config{Servers: []string{srv.Addr}, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, ctx: ctx, st: st, alice: alice, dns: srv, res: res, roots: x509.NewCertPool(),
		logs: &testutil.SyncBuffer{}, routes: map[string]string{}}
}

// route makes connections to MX address ip (port 25) reach addr.
func (e *env) route(ip, addr string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.routes[net.JoinHostPort(ip, "25")] = addr
}

func (e *env) dial(ctx context.Context, network, address string) (net.Conn, error) {
	e.mu.Lock()
	e.dials = append(e.dials, address)
	to, ok := e.routes[address]
	e.mu.Unlock()
	if !ok {
		return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
	}
	var d net.Dialer
	return d.DialContext(ctx, network, to)
}

func (e *env) dialed() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.dials...)
}

// trust adds a server certificate to the roots the queue verifies with.
func (e *env) trust(cert tls.Certificate) {
	e.roots.AddCert(cert.Leaf)
}

// config is the queue configuration of tests: short timeouts, the test
// dialer and roots.
func (e *env) config() Config {
	return Config{
		Hostname:       "mail.example.org",
		Workers:        4,
		Lease:          30 * time.Second,
		RetryBase:      time.Second,
		RetryMax:       4 * time.Second,
		PollInterval:   100 * time.Millisecond,
		ConnectTimeout: 2 * time.Second,
		CommandTimeout: 5 * time.Second,
		DataTimeout:    5 * time.Second,
		Dial:           e.dial,
		RootCAs:        e.roots,
		AllowPrivate:   true, // the test servers are on 127.0.0.x
	}
}

func (e *env) queue(adjust ...func(*Config)) *Queue {
	cfg := e.config()
	for _, f := range adjust {
		f(&cfg)
	}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return New(cfg, e.st, e.res, nil, log)
}

const testMessage = "From: Alice <alice@example.org>\r\n" +
	"To: Bob <bob@example.net>\r\n" +
	"Subject: greetings\r\n" +
	"Date: Mon, 2 Jan 2006 15:04:05 +0000\r\n" +
	"Message-ID: <greetings@example.org>\r\n" +
	"\r\n" +
	"Hello Bob.\r\n"

// enqueue queues msg from from to rcpts, as the submission server does.
func (e *env) enqueue(from string, rcpts []store.QueueRcpt, msg string, adjust ...func(*deliver.Incoming)) int64 {
	e.t.Helper()
	spool, err := e.st.NewSpool()
	if err != nil {
		e.t.Fatal(err)
	}
	defer spool.Discard()
	io.WriteString(spool, msg)
	if err := spool.Finish(); err != nil {
		e.t.Fatal(err)
	}
	in := deliver.Incoming{
		Spool:     spool,
		Prefix:    []byte("Received: from client by mail.example.org; Mon, 2 Jan 2006 15:04:05 +0000\r\n"),
		Remote:    rcpts,
		From:      from,
		AccountID: e.alice.ID,
	}
	for _, f := range adjust {
		f(&in)
	}
	d, err := deliver.Deliver(e.ctx, e.st, in)
	if err != nil {
		e.t.Fatal(err)
	}
	return d[0].QueueID
}

func rcpts(addrs ...string) []store.QueueRcpt {
	var out []store.QueueRcpt
	for _, a := range addrs {
		out = append(out, store.QueueRcpt{Address: a})
	}
	return out
}

// runOnce makes one attempt of every entry due within the next hour,
// synchronously, as a worker would. It returns how many it processed.
func (e *env) runOnce(q *Queue) int {
	e.t.Helper()
	entries, err := e.st.ClaimQueue(e.ctx, "runOnce", time.Now().Add(time.Hour), q.cfg.Lease, 100)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, en := range entries {
		q.process(e.ctx, en)
	}
	return len(entries)
}

// claimWatch is a store that reports each ClaimQueue Run makes.
type claimWatch struct {
	Store
	claimed chan int // the number of entries each claim returned
}

// watchClaims makes q's claims observable; call before q.Run.
func watchClaims(q *Queue) *claimWatch {
	w := &claimWatch{Store: q.st, claimed: make(chan int, 1000)}
	q.st = w
	return w
}

func (w *claimWatch) ClaimQueue(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]store.QueueEntry, error) {
	entries, err := w.Store.ClaimQueue(ctx, owner, now, lease, limit)
	if err == nil {
		select {
		case w.claimed <- len(entries):
		default: // only the first claims matter to the tests
		}
	}
	return entries, err
}

// next waits for the next claim and returns how many entries it took.
func (w *claimWatch) next(t testing.TB) int {
	t.Helper()
	select {
	case n := <-w.claimed:
		return n
	case <-time.After(10 * time.Second):
		t.Fatal("no claim within 10 seconds")
		return 0
	}
}

// entry returns the queue entry id; ok is false when it is gone.
func (e *env) entry(id int64) (store.QueueEntry, bool) {
	e.t.Helper()
	en, err := e.st.QueueEntry(e.ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return en, false
	} else if err != nil {
		e.t.Fatal(err)
	}
	return en, true
}

// inbox returns the messages in an account's INBOX, in UID order.
func inbox(t testing.TB, st store.Store, acct store.Account) []string {
	t.Helper()
	ctx := context.Background()
	mb, err := st.Mailbox(ctx, acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := st.Messages(ctx, acct.ID, mb.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		r, err := st.OpenMessage(ctx, acct.ID, mb.ID, m.UID)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

// parsedDSN is a DSN read back.
type parsedDSN struct {
	header   message.Header
	text     string
	status   string // the message/delivery-status part
	original string // the third part
	types    []string
}

func parseDSN(t testing.TB, raw string) parsedDSN {
	t.Helper()
	ent, err := message.Read(strings.NewReader(raw))
	if err != nil {
		t.Fatalf("DSN does not parse: %v\n%s", err, raw)
	}
	mt, params, _ := ent.Header.ContentType()
	if mt != "multipart/report" || !strings.HasSuffix(params["report-type"], "delivery-status") {
		t.Fatalf("DSN of type %s %v", mt, params)
	}
	mr := ent.MultipartReader()
	var p parsedDSN
	p.header = ent.Header
	for i := 0; ; i++ {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("DSN part %d: %v", i, err)
		}
		typ, _, _ := part.Header.ContentType()
		p.types = append(p.types, typ)
		b, err := io.ReadAll(part.Body)
		if err != nil {
			t.Fatalf("DSN part %d: %v", i, err)
		}
		switch i {
		case 0:
			p.text = string(b)
		case 1:
			p.status = string(b)
		case 2:
			p.original = string(b)
		}
	}
	if len(p.types) != 3 {
		t.Fatalf("DSN has parts %v", p.types)
	}
	return p
}

// fakeMX is a scripted SMTP server: rcpt and data decide the replies.
type fakeMX struct {
	addr string
	srv  *smtp.Server

	mu       sync.Mutex
	conns    int
	closed   int // connections the server has closed
	rcptN    int
	rcpt     func(n int, to string) error // n counts RCPT commands from 1
	data     func() error
	received []fakeMsg
}

type fakeMsg struct {
	from  string
	opts  smtp.MailOptions
	rcpts []string
	data  string
	tls   bool
}

// newFakeMX starts a server; cert enables STARTTLS; configure adjusts it.
func newFakeMX(t testing.TB, cert *tls.Certificate, configure ...func(*smtp.Server)) *fakeMX {
	t.Helper()
	f := &fakeMX{}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &fakeSession{f: f, c: c}, nil
	}))
	srv.Domain = "fake.test"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.MaxMessageBytes = 1 << 20
	srv.EnableDSN = true
	srv.EnableSMTPUTF8 = true
	if cert != nil {
		srv.TLSConfig = certs.ServerTLSConfig(*cert)
	}
	for _, c := range configure {
		c(srv)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = l.Addr().String()
	f.srv = srv
	go srv.Serve(&countingListener{Listener: l, f: f})
	t.Cleanup(func() { srv.Close() })
	return f
}

type countingListener struct {
	net.Listener
	f *fakeMX
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.f.mu.Lock()
	l.f.conns++
	l.f.mu.Unlock()
	return &countedConn{Conn: c, f: l.f}, nil
}

// countedConn counts its closing in its fakeMX.
type countedConn struct {
	net.Conn
	f    *fakeMX
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() {
		c.f.mu.Lock()
		c.f.closed++
		c.f.mu.Unlock()
	})
	return c.Conn.Close()
}

// closedConnections is the number of connections the server has closed.
func (f *fakeMX) closedConnections() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}

func (f *fakeMX) messages() []fakeMsg {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeMsg(nil), f.received...)
}

func (f *fakeMX) connections() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conns
}

type fakeSession struct {
	f   *fakeMX
	c   *smtp.Conn
	msg fakeMsg
}

func (s *fakeSession) Reset()        { s.msg = fakeMsg{} }
func (s *fakeSession) Logout() error { return nil }

func (s *fakeSession) Mail(from string, opts *smtp.MailOptions) error {
	s.msg = fakeMsg{from: from, opts: *opts}
	return nil
}

func (s *fakeSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.f.mu.Lock()
	s.f.rcptN++
	n, rcpt := s.f.rcptN, s.f.rcpt
	s.f.mu.Unlock()
	if rcpt != nil {
		if err := rcpt(n, to); err != nil {
			return err
		}
	}
	s.msg.rcpts = append(s.msg.rcpts, to)
	return nil
}

func (s *fakeSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.f.mu.Lock()
	data := s.f.data
	s.f.mu.Unlock()
	if data != nil {
		if err := data(); err != nil {
			return err
		}
	}
	_, s.msg.tls = s.c.TLSConnectionState()
	s.msg.data = string(b)
	s.f.mu.Lock()
	s.f.received = append(s.f.received, s.msg)
	s.f.mu.Unlock()
	return nil
}

// smtpErr is a reply of a fake server.
func smtpErr(code int, enh smtp.EnhancedCode, text string) error {
	return &smtp.SMTPError{Code: code, EnhancedCode: enh, Message: text}
}

// mustCert makes a self-signed certificate for host.
func mustCert(t testing.TB, host string) tls.Certificate {
	t.Helper()
	c, err := certs.SelfSigned(host, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func contains(t testing.TB, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s lacks %q:\n%s", what, sub, s)
		}
	}
}

// lines makes a header block from fields.
func lines(fields ...string) string {
	var b bytes.Buffer
	for _, f := range fields {
		fmt.Fprintf(&b, "%s\r\n", f)
	}
	return b.String()
}
