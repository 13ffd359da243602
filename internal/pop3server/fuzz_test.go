package pop3server

import (
	"bytes"
	"encoding/base64"
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
}

// FuzzSession feeds arbitrary client bytes to a whole session over a
// loopback TCP connection, before and after login. The server must never
// panic, and must close the connection in bounded time once the client
// has finished sending.
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
		// Sessions delete messages: keep a few in the INBOX.
		ht := *h
		ht.t = t // the harness's helpers must not use f inside the target
		if _, msgs := ht.inbox(h.alice); len(msgs) < 3 {
			ht.put(h.alice, "Received: from fuzz\r\n", "Subject: a\r\n\r\n.dot\r\nline\r\n")
			ht.put(h.alice, "", "Subject: lf\n\nx\n.\n")
			ht.put(h.alice, "", "no header at all")
		}
		conn, err := net.DialTimeout("tcp", h.addr, 5*time.Second)
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
