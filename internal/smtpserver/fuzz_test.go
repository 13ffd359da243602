package smtpserver

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"slices"
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
}

// FuzzSession feeds arbitrary client bytes to a whole session over a
// loopback TCP connection. The server must never panic, and must close the
// connection in bounded time once the client has finished sending.
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
	f.Fuzz(func(t *testing.T, submission bool, data []byte) {
		addr := h.mxAddr
		if submission {
			addr = h.subAddr
		}
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		read := make(chan error, 1)
		go func() {
			conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			_, err := io.Copy(io.Discard, conn)
			read <- err
		}()
		conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		conn.Write(data) // the server may close early: errors are fine
		conn.(*net.TCPConn).CloseWrite()
		if err := <-read; err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("server did not close the connection after the client finished")
			}
		}
		if line := watch.panicked(); line != nil {
			t.Fatalf("the server recovered from a panic: %s", line)
		}
	})
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
