package smtpserver

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"postel/internal/message"
)

// panicWatch discards log output but notices recovered panics in Postel's
// code: go-smtp recovers a panicking command and logs "panic serving" with
// the stack through ErrorLog, and Logout logs "panic in logout". The
// markers are in msg, which client input never sets.
//
// go-smtp v0.25.1 itself panics (and recovers) when a connection closes
// while its BDAT goroutine is starting: it calls Data on the nil session
// Conn.Close left (conn.go:1059). That one has no frame of ours in its
// stack and is not counted.
type panicWatch struct {
	mu   sync.Mutex
	seen []byte // the first log line of a recovered panic
}

func (p *panicWatch) Write(b []byte) (int, error) {
	ours := bytes.Contains(b, []byte("postel/internal/"))
	if (bytes.Contains(b, []byte(`msg="smtp: panic serving`)) && ours) || bytes.Contains(b, []byte(`msg="panic in logout"`)) {
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

// Seeds: whole client sides of sessions.
var sessionSeeds = []struct {
	submission bool
	data       string
}{
	{false, "EHLO client.example\r\nMAIL FROM:<x@remote.net>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n" +
		"Subject: hi\r\n\r\nbody\r\n..dot\r\n.\r\nQUIT\r\n"},
	{false, "EHLO c\r\nMAIL FROM:<x@remote.net> BODY=8BITMIME SIZE=40\r\nRCPT TO:<bob@example.org> NOTIFY=NEVER\r\n" +
		"BDAT 12\r\nSubject: a\r\n\r\nBDAT 6 LAST\r\nbody\r\nQUIT\r\n"},
	{false, "EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<alice@example.org>\r\nRCPT TO:<victim@remote.net>\r\nRCPT TO:<nobody@example.org>\r\nDATA\r\n" +
		"Subject: a\r\n\r\nfirst\n.\r\nMAIL FROM:<evil@remote.net>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\nx\r\n.\r\n"},
	{false, "HELO c\r\nMAIL FROM:<x@remote.net>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\nSubject: a\r\n\r\nx\r.\r\n.\r\nRSET\r\nNOOP\r\nVRFY alice\r\nQUIT\r\n"},
	{false, "EHLO c\r\nSTARTTLS\r\n\x16\x03\x01\x00\x05hello"},
	{false, "EHLO c\r\nMAIL FROM:<x@remote.net>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n" +
		"Subject: a\r\n\r\nfirst\r\n.\rhidden\r\n.\r\r\n..\r\r\n.\r\nNOOP\r\n"},
	{false, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"},
	{true, "EHLO c\r\nAUTH PLAIN " + b64("\x00alice@example.org\x00"+alicePass) + "\r\n" +
		"MAIL FROM:<alice@example.org> RET=HDRS ENVID=x REQUIRETLS\r\nMAIL FROM:<alice@example.org>\r\n" +
		"RCPT TO:<bob@example.org>\r\nRCPT TO:<far@remote.net> NOTIFY=SUCCESS ORCPT=rfc822;far@remote.net\r\n" +
		"DATA\r\nFrom: alice@example.org\r\nSubject: s\r\n\r\nx\r\n.\r\nQUIT\r\n"},
	{true, "EHLO c\r\nAUTH LOGIN\r\n" + b64("bob@example.org") + "\r\n" + b64("wrong") + "\r\nAUTH LOGIN " +
		b64("bob@example.org") + "\r\n*\r\nMAIL FROM:<bob@example.org>\r\n"},
	{true, "EHLO c\r\nAUTH SCRAM-SHA-256 " + b64("n,,n=alice@example.org,r=abcdefgh") + "\r\n" + b64("c=biws,r=abcdefgh,p=AAAA") + "\r\n"},
	{true, "EHLO c\r\nAUTH PLAIN\r\n=\r\nAUTH XYZ\r\nAUTH PLAIN !!!\r\n"},
	// Relay attempts on the MX, each recipient in another disguise.
	{false, "EHLO c\r\nMAIL FROM:<x@remote.net>\r\nRCPT TO:<victim@remote.net>\r\nRCPT TO:<@example.org:victim@remote.net>\r\n" +
		"RCPT TO:<alice@example.org@remote.net>\r\nRCPT TO:<victim%remote.net@example.org>\r\nRCPT TO:<victim@example.org.remote.net>\r\n" +
		"RCPT TO:victim@remote.net\r\nRCPT TO:<ALICE@EXAMPLE.ORG>\r\nDATA\r\nSubject: relay?\r\n\r\nx\r\n.\r\nQUIT\r\n"},
	// Submission without AUTH, then as alice trying to send as bob, then
	// as herself with a subaddress; AUTH naming bob as alice.
	{true, "EHLO c\r\nMAIL FROM:<alice@example.org>\r\nRCPT TO:<far@remote.net>\r\nDATA\r\nx\r\n.\r\n" +
		"AUTH PLAIN " + b64("\x00alice@example.org\x00"+alicePass) + "\r\nMAIL FROM:<bob@example.org>\r\nMAIL FROM:<alice+list@example.org>\r\n" +
		"RCPT TO:<far@remote.net>\r\nRSET\r\nQUIT\r\n"},
	{true, "EHLO c\r\nAUTH PLAIN " + b64("bob@example.org\x00alice@example.org\x00"+alicePass) + "\r\nMAIL FROM:<bob@example.org>\r\n"},
	// Command-looking text inside DATA, a refused BDAT chunk and an AUTH
	// exchange: none of it is a command, and each gets no reply of its own.
	{false, "EHLO c\r\nBDAT 12\r\nNOOP\r\nQUIT\r\nNOOP\r\nMAIL FROM:<x@remote.net>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n" +
		"NOOP\r\nQUIT\r\n.\r\nNOOP\r\nBDAT 5 LAST\r\nQUIT\r\nNOOP\r\nQUIT\r\n"},
	{true, "EHLO c\r\nAUTH LOGIN\r\nNOOP\r\nAUTH LOGIN\r\n*\r\nNOOP\r\nHELO again\r\nQUIT\r\n"},
}

// FuzzSession feeds arbitrary client bytes to a whole session over a
// loopback TCP connection, and checks what the server answered:
//   - it never panics, and closes the connection in bounded time once the
//     client has finished sending;
//   - every command line it read got exactly one reply, in order, with
//     pipelining, DATA, BDAT chunks and AUTH exchanges followed as the
//     server reads them (dialogue), until a reply that closes (221, 421);
//   - the MX never accepts a recipient outside its domain (no relay) and
//     never authenticates anyone; nothing it accepts enters the outbound
//     queue;
//   - submission accepts a sender only after AUTH, and only the
//     authenticated account's own address: no client acts as another.
func FuzzSession(f *testing.F) {
	for _, s := range sessionSeeds {
		f.Add(s.submission, []byte(s.data))
	}
	watch := &panicWatch{}
	h := newHarnessLog(f, watch, func(c *Config) {
		c.AllowPlaintextLoopback = true // AUTH without TLS, so inputs reach it
		c.ReadTimeout = 2 * time.Second
		c.DataTimeout = 2 * time.Second
		c.WriteTimeout = 2 * time.Second
		c.Limits.MaxConnsPerIP = 1000
	})
	queued := func(t *testing.T) int {
		q, err := h.st.Queue(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return len(q)
	}
	f.Fuzz(func(t *testing.T, submission bool, data []byte) {
		addr := h.mxAddr
		if submission {
			addr = h.subAddr
		}
		before := queued(t)
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
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
		d := &dialogue{submission: submission, in: data, out: res.out,
			cut: res.err != nil, relaxed: hasLongLine(data, h.mx.cfg.MaxLineLength)}
		if err := d.check(); err != nil {
			t.Fatalf("%v\nclient sent %q\nserver said %q", err, data, res.out)
		}
		if after := queued(t); !submission && after != before {
			t.Fatalf("the MX queued %d messages for relay\nclient sent %q\nserver said %q", after-before, data, res.out)
		}
	})
}

// The harness's one local domain and its accounts.
const fuzzDomain = "example.org"

var fuzzAccounts = []string{"alice@example.org", "bob@example.org"}

// dialogue replays a session as the server reads it: the client's input
// line by line (go-smtp reads a command up to LF; at the end of the input a
// last line without one is a command too), and the server's replies, one
// per command line. DATA answered 354 is followed by the message up to the
// line "." (RFC 5321 §4.5.2; unstuffLines) and one more reply; BDAT with a
// well-formed size is followed by its chunk, whether refused or not (RFC
// 3030 §2, as go-smtp reads it); AUTH answered 334 by one line per 334.
// STARTTLS answered 220 ends the replay (what follows is TLS).
type dialogue struct {
	submission bool
	in, out    []byte
	cut        bool // the read ended in an error (a reset): replies may be missing at the end
	// relaxed: some line is longer than the limit. go-smtp checks line
	// lengths on each read from the socket, before it splits lines, so
	// which pipelined commands before the long line it still answers
	// depends on how the input arrived; the replay ends at its refusal.
	relaxed  bool
	identity string // the account AUTH logged in as; "?" when the exchange cannot tell
}

type smtpReply struct {
	code int
	text string
}

// hasLongLine reports whether a line of in (counted as go-smtp's
// lineLimitReader does, from LF to LF) may exceed limit octets.
func hasLongLine(in []byte, limit int) bool {
	for l := range bytes.SplitSeq(in, []byte("\n")) {
		if len(l)+2 > limit {
			return true
		}
	}
	return false
}

// line takes the next command line without its line ending.
func (d *dialogue) line() (string, bool) {
	if len(d.in) == 0 {
		return "", false
	}
	l := d.in
	if i := bytes.IndexByte(d.in, '\n'); i >= 0 {
		l, d.in = d.in[:i], d.in[i+1:]
	} else {
		d.in = nil
	}
	return string(bytes.TrimSuffix(l, []byte("\r"))), true
}

// reply takes the server's next reply; ok is false when there is none.
func (d *dialogue) reply() (r smtpReply, ok bool, err error) {
	var text []string
	for {
		i := bytes.Index(d.out, []byte("\r\n"))
		if i < 0 {
			if len(d.out) > 0 && !d.cut {
				return r, false, fmt.Errorf("output ends inside a reply: %q", d.out)
			}
			if len(text) > 0 && !d.cut {
				return r, false, fmt.Errorf("output ends inside a multi-line reply")
			}
			return r, false, nil
		}
		l := string(d.out[:i])
		d.out = d.out[i+2:]
		if len(l) < 3 || l[0] < '2' || l[0] > '5' || !isDigits(l[:3]) || (len(l) > 3 && l[3] != ' ' && l[3] != '-') {
			return r, false, fmt.Errorf("malformed reply line %q", l)
		}
		code, _ := strconv.Atoi(l[:3])
		if r.code != 0 && code != r.code {
			return r, false, fmt.Errorf("reply code changes within a reply: %d then %q", r.code, l)
		}
		r.code = code
		text = append(text, l[min(4, len(l)):])
		if len(l) == 3 || l[3] == ' ' {
			r.text = strings.Join(text, "\n")
			return r, true, nil
		}
	}
}

func isDigits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// check replays the dialogue and returns the first property it breaks.
func (d *dialogue) check() error {
	g, ok, err := d.reply()
	if err != nil || !ok {
		if d.cut && err == nil {
			return nil
		}
		return fmt.Errorf("no greeting (%v)", err)
	}
	if g.code != 220 {
		return fmt.Errorf("greeting %d %s", g.code, g.text)
	}
	for {
		line, ok := d.line()
		if !ok {
			break // the input is over
		}
		r, ok, err := d.reply()
		if err != nil {
			return err
		}
		if !ok {
			if d.cut || d.relaxed {
				return nil
			}
			return fmt.Errorf("no reply to %q", line)
		}
		last, stop, err := d.command(line, r)
		if err != nil || stop {
			return err
		}
		if last.code == 221 || last.code == 421 || d.quitting() {
			break // the reply closes the connection
		}
	}
	if r, ok, err := d.reply(); err != nil || ok {
		return fmt.Errorf("a reply to no command: %d %s (%v)", r.code, r.text, err)
	}
	return nil
}

// command follows one command line answered r: what it takes of the
// input and of the replies after it, and the properties of its answer.
// It returns the command's last reply; stop ends the replay.
func (d *dialogue) command(line string, r smtpReply) (last smtpReply, stop bool, err error) {
	if d.relaxed && r.code == 500 && strings.Contains(strings.ToLower(r.text), "too long") {
		return r, true, nil
	}
	verb, arg := smtpVerb(line)
	switch verb {
	case "STARTTLS":
		return r, r.code == 220, nil
	case "DATA":
		if r.code != 354 {
			return r, false, nil
		}
		_, rest, ended := unstuffLines(d.in)
		if !ended {
			// The input ends inside the message: one reply at most
			// (the transfer failed), and nothing after it.
			d.in = nil
			_, _, err := d.reply()
			return r, false, err
		}
		d.in = rest
		return d.next(r, "the message data")
	case "BDAT":
		if n, ok := bdatSize(arg); ok {
			d.in = d.in[min(n, uint64(len(d.in))):]
		}
	case "AUTH":
		var exchange []string
		if f := strings.Fields(arg); len(f) > 1 {
			exchange = append(exchange, f[1])
		}
		for r.code == 334 {
			l, ok := d.line()
			if !ok {
				return r, false, nil // the server waits for the line: no reply
			}
			exchange = append(exchange, l)
			if r, stop, err = d.next(r, "an AUTH response"); err != nil || stop {
				return r, stop, err
			}
		}
		if r.code == 235 {
			if !d.submission {
				return r, false, fmt.Errorf("the MX authenticated a client: %q", line)
			}
			d.identity = saslIdentity(strings.Fields(arg)[0], exchange)
		}
	case "MAIL":
		if r.code/100 == 2 && d.submission {
			from, ok := pathArg(arg, "FROM:")
			switch {
			case !ok:
				return r, false, fmt.Errorf("submission accepted %q", line)
			case d.identity == "":
				return r, false, fmt.Errorf("submission accepted a sender before AUTH: %q", line)
			case d.identity == "?" && !slices.Contains(fuzzAccounts, baseAddress(from)):
				return r, false, fmt.Errorf("submission accepted a sender that is no account's: %q", line)
			case d.identity != "?" && baseAddress(from) != d.identity:
				return r, false, fmt.Errorf("submission accepted sender %q from %s", from, d.identity)
			}
		}
	case "RCPT":
		if r.code/100 == 2 && !d.submission {
			to, ok := pathArg(arg, "TO:")
			if !ok {
				return r, false, fmt.Errorf("the MX accepted %q", line)
			}
			if _, domain, _ := strings.Cut(baseAddress(to), "@"); domain != fuzzDomain {
				return r, false, fmt.Errorf("the MX relays: it accepted %q", line)
			}
		}
	}
	return r, false, nil
}

// quitting takes go-smtp's own closing notice, which it adds after the
// reply to its fourth unparsable command line (conn.go, errThreshold).
func (d *dialogue) quitting() bool {
	out := d.out
	if r, ok, err := d.reply(); err == nil && ok && r.code == 500 && r.text == "5.5.1 Too many errors. Quiting now" {
		return true
	}
	d.out = out
	return false
}

// next takes the reply after the data or line that followed r.
func (d *dialogue) next(r smtpReply, what string) (smtpReply, bool, error) {
	n, ok, err := d.reply()
	switch {
	case err != nil:
		return n, true, err
	case !ok && (d.cut || d.relaxed):
		return n, true, nil
	case !ok:
		return n, true, fmt.Errorf("no reply to %s after %d %s", what, r.code, r.text)
	}
	if d.relaxed && n.code == 500 && strings.Contains(strings.ToLower(n.text), "too long") {
		return n, true, nil
	}
	return n, false, nil
}

// smtpVerb splits a command line as go-smtp's parseCmd does; verb is ""
// for a line it refuses.
func smtpVerb(line string) (verb, arg string) {
	line = strings.TrimRight(line, "\r\n")
	switch {
	case strings.HasPrefix(strings.ToUpper(line), "STARTTLS"):
		return "STARTTLS", ""
	case len(line) == 4:
		return strings.ToUpper(line), ""
	case len(line) < 6 || line[4] != ' ':
		return "", ""
	}
	return strings.ToUpper(line[:4]), strings.TrimSpace(line[5:])
}

// bdatSize is the chunk size of BDAT arguments go-smtp reads a chunk for.
func bdatSize(arg string) (uint64, bool) {
	f := strings.Fields(arg)
	if len(f) == 0 || len(f) > 2 || (len(f) == 2 && !strings.EqualFold(f[1], "LAST")) {
		return 0, false
	}
	n, err := strconv.ParseUint(f[0], 10, 32)
	return n, err == nil
}

// pathArg is the address of a MAIL FROM: or RCPT TO: argument, without a
// source route.
func pathArg(arg, prefix string) (string, bool) {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return "", false
	}
	p := strings.TrimSpace(arg[len(prefix):])
	if strings.HasPrefix(p, "<") {
		end := strings.IndexByte(p, '>')
		if end < 0 {
			return "", false
		}
		p = p[1:end]
	} else if f := strings.Fields(p); len(f) > 0 {
		p = f[0]
	}
	if strings.HasPrefix(p, "@") {
		_, p, _ = strings.Cut(p, ":")
	}
	return p, true
}

// baseAddress lowercases an address and drops its subaddress (+tag) and a
// final dot of its domain.
func baseAddress(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return strings.ToLower(addr)
	}
	local, domain := addr[:i], strings.TrimSuffix(addr[i+1:], ".")
	local, _, _ = strings.Cut(local, "+")
	return strings.ToLower(local + "@" + domain)
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
			return baseAddress(parts[0])
		}
		return baseAddress(parts[1])
	case "LOGIN":
		return baseAddress(string(b))
	}
	return "?"
}

// endLine stands for go-smtp's reader at the end of the data: it consumes
// the line ".\r\n" and reports io.EOF.
type endLine struct{ br *bufio.Reader }

func (e endLine) Read([]byte) (int, error) {
	var b [3]byte
	if _, err := io.ReadFull(e.br, b[:]); err != nil || string(b[:]) != ".\r\n" {
		return 0, fmt.Errorf("not the end of the data: %q, %v", b, err)
	}
	return 0, io.EOF
}

// unstuffLines is RFC 5321 §4.5.2 written out line by line, the reference
// for dotReader: the lines (each ending at its first CRLF) up to the line
// ".", each without a leading dot; rest is what follows the end.
func unstuffLines(in []byte) (text, rest []byte, ended bool) {
	text = []byte{}
	for {
		i := bytes.Index(in, []byte("\r\n"))
		if i < 0 {
			return text, nil, false
		}
		line := in[:i+2]
		in = in[i+2:]
		if string(line) == ".\r\n" {
			return text, in, true
		}
		text = append(text, bytes.TrimPrefix(line, []byte("."))...)
	}
}

// FuzzDotReader compares dotReader with unstuffLines on arbitrary input
// read through bufio's smallest buffer, so that lines and CRLFs are split
// across reads: same text, same end, and the next command left unread.
func FuzzDotReader(f *testing.F) {
	for _, s := range []string{
		"Subject: a\r\n\r\nbody\r\n.\r\nQUIT\r\n",
		"..dot\r\n.one\r\n...\r\n.\r\n",
		"first\r\n.\rhidden\r\n.\r\n",
		"body\r\r\n.\r\nMAIL FROM:<evil@remote.net>\r\n",
		"a\n.\r\nb\r\n.\r\n",
		strings.Repeat("x", 40) + "\r" + "\n.\r\n",
		".\r\n",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(in), 16)
		d := &dotReader{br: br, end: endLine{br}, left: 1 << 20, start: true}
		got, err := io.ReadAll(d)
		want, rest, ended := unstuffLines(in)
		if !ended {
			if err != io.ErrUnexpectedEOF {
				t.Fatalf("input without an end: err %v", err)
			}
			return
		}
		if err != nil {
			t.Fatalf("ReadAll: %v", err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("text %q, want %q", got, want)
		}
		left, _ := io.ReadAll(br)
		if !bytes.Equal(left, rest) {
			t.Fatalf("left after the data %q, want %q", left, rest)
		}
	})
}

// FuzzStripFields removes, from arbitrary header blocks, the fields the MX
// removes (those only this server may write): what remains is the input
// without exactly those fields, every other byte kept in order.
func FuzzStripFields(f *testing.F) {
	f.Add([]byte("Authentication-Results: mx.example.org; dkim=pass\r\nFrom: a@b\r\n\r\n"))
	f.Add([]byte("X-Postel-Junk: no\r\n folded\r\nbad line\r\n continued\r\nARC-Seal: i=1; d=example.org\r\nSubject: x\r\n\r\n"))
	f.Add([]byte("From: a\n\tb\nAuthentication-Results: x\n"))
	f.Fuzz(func(t *testing.T, hdr []byte) {
		if len(hdr) > 1<<16 {
			return
		}
		fields := message.Fields(hdr)
		drop := map[int]bool{}
		for i, fl := range fields {
			if slices.ContainsFunc(ours, fl.Is) {
				drop[i] = true
			}
		}
		got := withoutFields(hdr, fields, drop)
		var want []byte
		rest := hdr
		for i, fl := range fields {
			start := bytes.Index(rest, fl.Raw)
			if start < 0 {
				t.Fatalf("field %d not found in order", i)
			}
			want = append(want, rest[:start]...)
			if !drop[i] {
				want = append(want, fl.Raw...)
			}
			rest = rest[start+len(fl.Raw):]
		}
		want = append(want, rest...)
		if !bytes.Equal(got, want) {
			t.Fatalf("withoutFields(%q) = %q; want %q", hdr, got, want)
		}
		for _, fl := range message.Fields(got) {
			if slices.ContainsFunc(ours, fl.Is) {
				t.Fatalf("%s left in %q", fl.Name, got)
			}
		}
	})
}

// TestDialogueCheck shows that FuzzSession's checks fail where they
// should: a missing, an extra or a misplaced reply, a relayed recipient,
// and a sender accepted before AUTH or for another account.
func TestDialogueCheck(t *testing.T) {
	const greet = "220 mx.example.org ESMTP\r\n"
	plainAlice := b64("\x00alice@example.org\x00" + alicePass)
	for _, c := range []struct {
		name       string
		submission bool
		in, out    string
		wantErr    string // "" for a dialogue that keeps every property
	}{
		{"answered", false, "EHLO c\r\nNOOP\r\n", greet + "250-mx\r\n250 PIPELINING\r\n250 ok\r\n", ""},
		{"last line without LF", false, "NOOP\r\nNOOP", greet + "250 ok\r\n250 ok\r\n", ""},
		{"missing reply", false, "NOOP\r\nNOOP\r\n", greet + "250 ok\r\n", "no reply"},
		{"extra reply", false, "NOOP\r\n", greet + "250 ok\r\n250 ok\r\n", "no command"},
		{"after a closing reply", false, "NOOP\r\nNOOP\r\n", greet + "421 bye\r\n250 ok\r\n", "no command"},
		{"closed", false, "QUIT\r\nNOOP\r\n", greet + "221 bye\r\n", ""},
		{"data is not commands", false, "DATA\r\nNOOP\r\n.\r\nQUIT\r\n", greet + "354 go\r\n250 queued\r\n221 bye\r\n", ""},
		{"data read as commands", false, "DATA\r\nNOOP\r\n.\r\nQUIT\r\n", greet + "354 go\r\n250 ok\r\n250 queued\r\n221 bye\r\n", "no command"},
		{"chunk is not commands", false, "BDAT 6\r\nNOOP\r\nNOOP\r\n", greet + "502 no\r\n250 ok\r\n", ""},
		{"SASL lines", true, "AUTH LOGIN\r\nYQ==\r\n*\r\nNOOP\r\n", greet + "334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n501 cancelled\r\n250 ok\r\n", ""},
		{"relay", false, "MAIL FROM:<a@remote.net>\r\nRCPT TO:<v@remote.net>\r\n", greet + "250 ok\r\n250 ok\r\n", "relays"},
		{"relay by source route", false, "RCPT TO:<@example.org:v@remote.net>\r\n", greet + "250 ok\r\n", "relays"},
		{"local recipient", false, "RCPT TO:<Bob+x@Example.ORG> NOTIFY=NEVER\r\n", greet + "250 ok\r\n", ""},
		{"MX AUTH", false, "AUTH PLAIN " + plainAlice + "\r\n", greet + "235 ok\r\n", "authenticated"},
		{"sender before AUTH", true, "MAIL FROM:<alice@example.org>\r\n", greet + "250 ok\r\n", "before AUTH"},
		{"sender of another account", true, "AUTH PLAIN " + plainAlice + "\r\nMAIL FROM:<bob@example.org>\r\n", greet + "235 ok\r\n250 ok\r\n", "from alice@example.org"},
		{"own subaddress", true, "AUTH PLAIN " + plainAlice + "\r\nMAIL FROM:<alice+x@example.org>\r\n", greet + "235 ok\r\n250 ok\r\n", ""},
		{"refused sender", true, "MAIL FROM:<bob@example.org>\r\n", greet + "530 auth first\r\n", ""},
	} {
		d := &dialogue{submission: c.submission, in: []byte(c.in), out: []byte(c.out)}
		err := d.check()
		if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
			t.Errorf("%s: check() = %v, want %q", c.name, err, c.wantErr)
		}
	}
}
