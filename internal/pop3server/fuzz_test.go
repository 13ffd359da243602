package pop3server

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// panicWatch discards log output but notices recovered panics: run logs
// "panic in command", a message no client input can set.
type panicWatch struct {
	mu   sync.Mutex
	seen []byte // the first log line of a recovered panic
}

func (p *panicWatch) Write(b []byte) (int, error) {
	if bytes.Contains(b, []byte(`msg="panic in command"`)) {
		p.mu.Lock()
		if p.seen == nil {
			p.seen = bytes.Clone(b)
		}
		p.mu.Unlock()
	}
	return len(b), nil
}

func (p *panicWatch) panicked() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// sessionSeeds are whole client sides of sessions; testdata/fuzz/FuzzSession
// holds them too, and the crashers fuzzing found.
var sessionSeeds = []string{
	"CAPA\r\nUSER alice@example.org\r\nPASS " + alicePass + "\r\nSTAT\r\nLIST\r\nUIDL\r\nRETR 1\r\nTOP 1 0\r\n" +
		"LIST 2\r\nUIDL 3\r\nDELE 1\r\nRETR 1\r\nRSET\r\nNOOP\r\nDELE 2\r\nQUIT\r\n",
	"AUTH PLAIN " + b64("\x00alice@example.org\x00"+alicePass) + "\r\nTOP 2 3\r\nRETR 3\r\nDELE 3\r\nQUIT\r\n",
	"AUTH LOGIN\r\n" + b64("alice@example.org") + "\r\n" + b64("wrong") + "\r\nAUTH LOGIN " + b64("alice@example.org") +
		"\r\n*\r\nAUTH PLAIN\r\n=\r\nAUTH\r\nAUTH XYZ\r\nAUTH PLAIN !!!\r\n",
	"AUTH SCRAM-SHA-256 " + b64("n,,n=alice@example.org,r=abcdefgh") + "\r\n" + b64("c=biws,r=abcdefgh,p=AAAA") + "\r\n",
	"UTF8\r\nuser alice@example.org\npass " + alicePass + "\nstat\nretr 0\nretr 4294967296\ntop 1\ntop 1 -1\nlist a b\nquit\n",
	"STLS\r\n\x16\x03\x01\x00\x05hello",
	"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
	"NOOP " + strings.Repeat("x", 600) + "\r\nSTAT\r\n",
	"USER a\x00b\r\nPASS\r\nXYZZY\r\n\r\nRE$R\r\nAPOP a b\r\nSTAT\r\n",
	// Multi-line replies, pipelined, before and after login; every one of
	// alice's messages (her secret among them), never bob's.
	"CAPA\r\nAUTH\r\nUSER bob@example.org\r\nNOOP\r\nUSER alice@example.org\r\nPASS " + alicePass + "\r\nLIST\r\nUIDL\r\nCAPA\r\n" +
		"TOP 4 0\r\nRETR 4\r\nRETR 3\r\nRETR 2\r\nRETR 1\r\nAUTH\r\nLIST 5\r\nQUIT\r\n",
	"AUTH PLAIN " + b64("\x00bob@example.org\x00"+bobPass) + "\r\nLIST\r\nRETR 1\r\nTOP 1 1\r\nQUIT\r\n",
	// Alice's password for bob's maildrop; then too many errors.
	"AUTH PLAIN " + b64("bob@example.org\x00alice@example.org\x00"+alicePass) + "\r\nRETR 1\r\nX\r\nX\r\nX\r\nX\r\nX\r\nSTAT\r\n",
	"AUTH LOGIN\r\n" + strings.Repeat("A", maxSASLLine+10) + "\r\nSTAT\r\n",
}

// The secrets planted in each account's INBOX: a session shows one only
// to its own account.
const (
	aliceSecret = "ALICE-SECRET"
	bobSecret   = "BOB-SECRET"
)

// FuzzSession feeds arbitrary client bytes to a whole session over a
// loopback TCP connection, before and after login, and checks what the
// server answered:
//   - it never panics, and closes the connection in bounded time once the
//     client has finished sending;
//   - every command line it read got exactly one reply, in order, with
//     pipelining, multi-line replies and AUTH exchanges followed as the
//     server reads them (dialogue), until the session ends as it may: QUIT,
//     STLS, an HTTP request line, a line too long, too many errors;
//   - no reply shows an account's mail before login, nor to another
//     account.
func FuzzSession(f *testing.F) {
	for _, s := range sessionSeeds {
		f.Add([]byte(s))
	}
	watch := &panicWatch{}
	h := newHarnessLog(f, watch, func(c *Config) {
		c.IdleTimeout = 2 * time.Second
		c.Limits.UnauthTimeout = 2 * time.Second
		c.Limits.MaxConnsPerIP = 1000
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		// Sessions delete messages: keep the INBOXes filled.
		ht := *h
		ht.t = t // the harness's helpers must not use f inside the target
		if _, msgs := ht.inbox(h.alice); len(msgs) < 4 {
			ht.put(h.alice, "Received: from fuzz\r\n", "Subject: a\r\n\r\n.dot\r\nline\r\n")
			ht.put(h.alice, "", "Subject: lf\n\nx\n.\n")
			ht.put(h.alice, "", "no header at all")
			ht.put(h.alice, "", "Subject: "+aliceSecret+"\r\n\r\n"+aliceSecret+" body\r\n")
		}
		if _, msgs := ht.inbox(h.bob); len(msgs) == 0 {
			ht.put(h.bob, "", "Subject: "+bobSecret+"\r\n\r\n"+bobSecret+" body\r\n")
		}
		conn, err := net.DialTimeout("tcp", h.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		type result struct {
			out []byte
			err error
		}
		read := make(chan result, 1)
		go func() {
			conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			out, err := io.ReadAll(conn)
			read <- result{out, err}
		}()
		conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		conn.Write(data) // the server may close early: errors are fine
		conn.(*net.TCPConn).CloseWrite()
		res := <-read
		if ne, ok := res.err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("server did not close the connection after the client finished")
		}
		if line := watch.panicked(); line != nil {
			t.Fatalf("the server recovered from a panic: %s", line)
		}
		d := &dialogue{in: data, out: res.out, cut: res.err != nil, maxErrors: h.srv.cfg.MaxCommandErrors}
		if err := d.check(); err != nil {
			t.Fatalf("%v\nclient sent %q\nserver said %q", err, data, res.out)
		}
	})
}

// secrets maps each account to the secret in its INBOX.
var secrets = map[string]string{"alice@example.org": aliceSecret, "bob@example.org": bobSecret}

// dialogue replays a session as the server reads it: the client's input
// line by line (a line ends at LF; what follows the last LF is never a
// command, only too long a line), and the server's replies, one per
// command line. A multi-line reply (RFC 1939 §3) runs to the line ".";
// AUTH answered "+ " is followed by one line per continuation.
type dialogue struct {
	in, out   []byte
	cut       bool   // the read ended in an error (a reset): replies may be missing at the end
	maxErrors int    // Config.MaxCommandErrors
	errs      int    // -ERR replies so far
	user      string // the name USER gave, for the PASS after it
	identity  string // who logged in: "" before login, "?" when the exchange cannot tell
	seen      map[string]bool
}

// line takes the next command line without its line end; long reports a
// line the server refuses as too long (more than maxCommandLine octets
// with its end, or an unended one that long).
func (d *dialogue) line(max int) (line string, long, ok bool) {
	i := bytes.IndexByte(d.in, '\n')
	if i < 0 {
		long = len(d.in) > max
		d.in = nil
		return "", long, long
	}
	l := d.in[:i+1]
	d.in = d.in[i+1:]
	return string(bytes.TrimSuffix(l[:i], []byte("\r"))), len(l) > max, true
}

// reply takes the next reply line; ok is false when there is none.
func (d *dialogue) reply() (string, bool, error) {
	i := bytes.Index(d.out, []byte("\r\n"))
	if i < 0 {
		if len(d.out) > 0 && !d.cut {
			return "", false, fmt.Errorf("output ends inside a line: %q", d.out)
		}
		return "", false, nil
	}
	l := string(d.out[:i])
	d.out = d.out[i+2:]
	if !strings.HasPrefix(l, "+OK") && !strings.HasPrefix(l, "-ERR") && !strings.HasPrefix(l, "+ ") {
		return "", false, fmt.Errorf("not a reply: %q", l)
	}
	if strings.HasPrefix(l, "-ERR") {
		d.errs++
	}
	return l, true, d.shows(l)
}

// body takes the lines of a multi-line reply up to the line ".".
func (d *dialogue) body() error {
	for {
		i := bytes.Index(d.out, []byte("\r\n"))
		if i < 0 {
			if d.cut {
				return nil
			}
			return fmt.Errorf("multi-line reply without its end")
		}
		l := string(d.out[:i])
		d.out = d.out[i+2:]
		if err := d.shows(l); err != nil || l == "." {
			return err
		}
	}
}

// shows checks that a line of output shows no mail to whom it is not for:
// none before login, none of another account after.
func (d *dialogue) shows(l string) error {
	for acct, secret := range secrets {
		if !strings.Contains(l, secret) {
			continue
		}
		if d.seen == nil {
			d.seen = map[string]bool{}
		}
		d.seen[acct] = true
		switch {
		case d.identity == "":
			return fmt.Errorf("%s's mail shown before login: %q", acct, l)
		case d.identity != "?" && d.identity != acct:
			return fmt.Errorf("%s's mail shown to %s: %q", acct, d.identity, l)
		case len(d.seen) > 1:
			return errors.New("two accounts' mail shown in one session")
		}
	}
	return nil
}

// account names the account a login name stands for, or "?" when it is
// none of the harness's accounts in an obvious spelling.
func account(name string) string {
	name = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(name)), ".")
	if _, ok := secrets[name]; ok {
		return name
	}
	return "?"
}

// check replays the dialogue and returns the first property it breaks.
func (d *dialogue) check() error {
	g, ok, err := d.reply()
	if err != nil || !ok || !strings.HasPrefix(g, "+OK ") {
		if d.cut && err == nil && !ok {
			return nil
		}
		return fmt.Errorf("greeting %q (%v)", g, err)
	}
	for {
		line, long, ok := d.line(maxCommandLine)
		if !ok {
			break // the input is over
		}
		r, ok, err := d.reply()
		switch {
		case err != nil:
			return err
		case !ok && d.cut:
			return nil
		case !ok && d.errs >= d.maxErrors:
			return nil // closed after too many errors
		case !ok && !long && httpMethods[strings.ToUpper(strings.SplitN(line, " ", 2)[0])]:
			return nil // an HTTP request: closed without a word
		case !ok:
			return fmt.Errorf("no reply to %q", line)
		case long:
			if r != errLineTooLong.line() {
				return fmt.Errorf("%q to a line too long", r)
			}
			return d.end()
		}
		stop, err := d.command(line, r)
		if err != nil || stop {
			return err
		}
	}
	return d.end()
}

// end checks that the server said nothing more.
func (d *dialogue) end() error {
	if r, ok, err := d.reply(); err != nil || ok {
		return fmt.Errorf("a reply to no command: %q (%v)", r, err)
	}
	return nil
}

// command follows one command line answered r: the rest of a multi-line
// reply, an AUTH exchange, the login it makes. stop ends the replay.
func (d *dialogue) command(line, r string) (stop bool, err error) {
	keyword, args, _ := strings.Cut(line, " ")
	keyword = strings.ToUpper(keyword)
	switch keyword {
	case "USER":
		if strings.HasPrefix(r, "+OK") {
			d.user = args
		}
	case "PASS":
		// A PASS ends what USER began, accepted or not (RFC 1939 §7).
		if strings.HasPrefix(r, "+OK") {
			d.identity = account(d.user)
		}
		d.user = ""
	}
	if !strings.HasPrefix(r, "+OK") && !strings.HasPrefix(r, "+ ") {
		return false, nil
	}
	switch keyword {
	case "CAPA", "RETR", "TOP":
		return false, d.body()
	case "LIST", "UIDL":
		if len(strings.Fields(args)) == 0 {
			return false, d.body()
		}
	case "QUIT":
		return true, d.end()
	case "STLS":
		return true, nil // TLS follows
	case "AUTH":
		f := strings.Fields(args)
		if len(f) == 0 {
			return false, d.body() // the mechanisms
		}
		exchange := f[1:]
		for strings.HasPrefix(r, "+ ") {
			l, long, ok := d.line(maxSASLLine)
			if !ok {
				return true, d.end() // the server waits for the line
			}
			exchange = append(exchange, l)
			var ok2 bool
			if r, ok2, err = d.reply(); err != nil || !ok2 {
				if err == nil && !d.cut {
					err = fmt.Errorf("no reply to an AUTH response %q", l)
				}
				return true, err
			}
			if long {
				if r != errLineTooLong.line() {
					return true, fmt.Errorf("%q to an AUTH response too long", r)
				}
				return true, d.end()
			}
		}
		if strings.HasPrefix(r, "+OK") {
			d.identity = saslIdentity(f[0], exchange)
		}
	}
	return false, nil
}

// saslIdentity is the account a successful AUTH exchange logged in as,
// for PLAIN (RFC 4616: the authorization identity, else the
// authentication identity) and LOGIN (the first response); "?" otherwise.
func saslIdentity(mech string, exchange []string) string {
	if len(exchange) == 0 {
		return "?"
	}
	b, err := base64.StdEncoding.DecodeString(exchange[0])
	if err != nil {
		return "?"
	}
	switch strings.ToUpper(mech) {
	case "PLAIN":
		parts := strings.Split(string(b), "\x00")
		if len(parts) != 3 {
			return "?"
		}
		if parts[0] != "" {
			return account(parts[0])
		}
		return account(parts[1])
	case "LOGIN":
		return account(string(b))
	}
	return "?"
}

// TestDialogueCheck shows that FuzzSession's checks fail where they
// should: a missing or an extra reply, a multi-line reply read as
// replies, and mail shown before login or to another account.
func TestDialogueCheck(t *testing.T) {
	const greet = "+OK ready\r\n"
	plainBob := b64("\x00bob@example.org\x00" + bobPass)
	for _, c := range []struct {
		name, in, out string
		wantErr       string // "" for a dialogue that keeps every property
	}{
		{"answered", "CAPA\r\nNOOP\n", greet + "+OK caps\r\nTOP\r\n.\r\n-ERR state\r\n", ""},
		{"no LF: no command", "NOOP", greet, ""},
		{"missing reply", "NOOP\r\nNOOP\r\n", greet + "-ERR state\r\n", "no reply"},
		{"extra reply", "NOOP\r\n", greet + "-ERR state\r\n-ERR state\r\n", "no command"},
		{"body read as replies", "LIST\r\nNOOP\r\n", greet + "+OK 1\r\n1 10\r\n.\r\n", "no reply"},
		{"closed by QUIT", "QUIT\r\nNOOP\r\n", greet + "+OK bye\r\n", ""},
		{"HTTP", "GET / HTTP/1.1\r\nHost: x\r\n", greet, ""},
		{"line too long", strings.Repeat("N", 600) + "\r\nNOOP\r\n", greet + "-ERR Line too long\r\n", ""},
		{"SASL lines", "AUTH PLAIN\r\n" + plainBob + "\r\nRETR 1\r\nQUIT\r\n", greet + "+ \r\n+OK in\r\n+OK 30 octets\r\nSubject: " + bobSecret + "\r\n.\r\n+OK bye\r\n", ""},
		{"mail before login", "NOOP\r\n", greet + "-ERR " + aliceSecret + "\r\n", "before login"},
		{"another's mail", "USER Bob@Example.org\r\nPASS x\r\nRETR 1\r\n", greet + "+OK\r\n+OK in\r\n+OK 30 octets\r\nSubject: " + aliceSecret + "\r\n.\r\n", "shown to bob@example.org"},
	} {
		d := &dialogue{in: []byte(c.in), out: []byte(c.out), maxErrors: 5}
		err := d.check()
		if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
			t.Errorf("%s: check() = %v, want %q", c.name, err, c.wantErr)
		}
	}
}
