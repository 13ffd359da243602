package imapserver

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"postel/internal/auth"
	"postel/internal/netserve"
	"postel/internal/testutil"
)

// FuzzSession sends arbitrary bytes to a session, logged in as bob (or,
// for inputs starting with a byte divisible by 4, not logged in), through
// an in-memory connection over the real store, and checks that the
// session ends on its own when the input does, never panics, and never
// shows bob anything of alice's.
func FuzzSession(f *testing.F) {
	seeds := []string{
		"1 SELECT INBOX\r\n2 FETCH 1:* (FLAGS BODY[] BODYSTRUCTURE ENVELOPE BINARY[1] BINARY.SIZE[1])\r\n",
		"1 SELECT INBOX\r\n2 SEARCH OR TEXT x (NOT SEEN) HEADER Subject \"\"\r\n3 UID SORT (REVERSE DATE) UTF-8 ALL\r\n4 THREAD REFERENCES UTF-8 ALL\r\n",
		"1 SELECT INBOX\r\n2 STORE 1:* +FLAGS (\\Deleted)\r\n3 EXPUNGE\r\n4 CLOSE\r\n",
		"1 APPEND INBOX (\\Seen) {11+}\r\nSubject: x\r\n\r\n2 APPEND INBOX {5}\r\nhello\r\n",
		"1 IDLE\r\nDONE\r\n2 IDLE\r\nNOPE\r\n",
		"1 CREATE a/b\r\n2 RENAME a c\r\n3 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" % RETURN (STATUS (MESSAGES))\r\n4 DELETE c/b\r\n",
		"1 ENABLE QRESYNC\r\n2 SELECT INBOX (QRESYNC (1 1 1:9 (1:3 1:3)))\r\n3 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)\r\n",
		"1 COMPRESS DEFLATE\r\n\x01\x02garbage",
		"\x00 LOGIN alice@example.org wrong\r\n2 AUTHENTICATE PLAIN\r\n*\r\n3 STARTTLS\r\n",
		"1 SELECT INBOX\r\n2 SEARCH RETURN (SAVE) ALL\r\n3 FETCH $ (UID)\r\n4 MOVE $ Trash\r\n",
		"GET / HTTP/1.1\r\n\r\n",
		"1 SELECT Archive\r\n2 FETCH 1 (BODY[1.2.3.HEADER.FIELDS (A B)]<0.10>)\r\n",
		"1 SELECT INBOX\r\n2 SEARCH RETURN (UPDATE PARTIAL 1:3) UNSEEN\r\n3 UID SORT RETURN (UPDATE ALL) (DISPLAYTO) UTF-8 1:*\r\n4 STORE 1 +FLAGS (\\Seen)\r\n5 EXPUNGE\r\n6 CANCELUPDATE \"2\" \"3\"\r\n",
		// A message with NUL: BODY[] refused, BINARY[] as a literal8.
		"1 APPEND INBOX ~{52+}\r\nContent-Transfer-Encoding: binary\r\nSubject: n\r\n\r\na\x00b\r\n" +
			"2 SELECT INBOX\r\n3 FETCH 2 (BODY.PEEK[] RFC822.TEXT)\r\n4 FETCH 2 (BINARY.PEEK[1]<1.2> BINARY.SIZE[] BODY.PEEK[1]<0.1>)\r\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	h := newHarness(f, func(c *Config) {
		c.IdleTimeout = 300 * time.Millisecond
		c.Limits.UnauthTimeout = 300 * time.Millisecond
		c.Limits.MaxConnsPerIP = 1000
	})
	h.srv.writeTimeout = 2 * time.Second
	// Alice's data, which bob must never see.
	h.put(h.alice, "INBOX", "Subject: ALICE-SECRET\r\n\r\nALICE-SECRET body\r\n")
	if _, err := h.st.CreateMailbox(context.Background(), h.alice.ID, "AliceOnly", ""); err != nil {
		f.Fatal(err)
	}
	h.put(h.bob, "INBOX", testutil.CRLF("Subject: bob's\n\nbob body\n"))
	h.put(h.bob, "Archive", testutil.CRLF("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nx\n--b--\n"))

	f.Fuzz(func(t *testing.T, input []byte) {
		// The session reads input, then end of file, and writes into out.
		mc := &memConn{r: bytes.NewReader(input)}
		sess := newSession(h.srv, &netserve.Conn{Conn: mc}, "fuzz", netip.MustParseAddr("127.0.0.1"), false)
		if len(input) == 0 || input[0]%4 != 0 {
			sess.state = stateAuth
			sess.user = auth.Identity{AccountID: h.bob.ID, Address: h.bob.Address}
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			sess.serve()
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("session did not end; output so far %q", mc.out.String())
		}
		o := mc.out.String()
		if !strings.HasPrefix(o, "* OK [CAPABILITY ") {
			t.Fatalf("no greeting: %q", o)
		}
		if strings.Contains(o, "ALICE-SECRET") || strings.Contains(o, "AliceOnly") {
			t.Fatalf("bob saw alice's data: %q", o)
		}
		if strings.Contains(h.logs.String(), "panic") {
			t.Fatalf("panic logged for input %q:\n%s", input, h.logs.String())
		}
	})
}

// memConn is a connection that reads a fixed input, then end of file, and
// keeps what is written.
type memConn struct {
	r   *bytes.Reader
	mu  sync.Mutex
	out bytes.Buffer
}

func (m *memConn) Read(p []byte) (int, error) { return m.r.Read(p) }

func (m *memConn) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.out.Write(p)
}

func (m *memConn) Close() error                     { return nil }
func (m *memConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 143} }
func (m *memConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000} }
func (m *memConn) SetDeadline(time.Time) error      { return nil }
func (m *memConn) SetReadDeadline(time.Time) error  { return nil }
func (m *memConn) SetWriteDeadline(time.Time) error { return nil }
