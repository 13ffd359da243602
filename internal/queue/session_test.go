package queue

import (
	"bufio"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"postel/internal/deliver"
)

// rawServer answers each connection with a script: for every line read
// (the first entry answers the connection itself), the text to write.
type rawServer struct {
	addr string
	mu   sync.Mutex
	got  []string // lines received
}

func newRawServer(t *testing.T, script map[string]string) *rawServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	s := &rawServer{addr: l.Addr().String()}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				c.Write([]byte(script[""]))
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					line = strings.TrimRight(line, "\r\n")
					s.mu.Lock()
					s.got = append(s.got, line)
					s.mu.Unlock()
					verb, _, _ := strings.Cut(line, " ")
					reply, ok := script[verb]
					if !ok {
						reply = "502 5.5.1 not in the script\r\n"
					}
					c.Write([]byte(reply))
				}
			}()
		}
	}()
	return s
}

func (s *rawServer) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

// Plaintext sent after the reply to STARTTLS is an injection attempt: the
// host is given up, not trusted.
func TestSTARTTLSInjection(t *testing.T) {
	e := newEnv(t)
	raw := newRawServer(t, map[string]string{
		"":         "220 evil ESMTP\r\n",
		"EHLO":     "250-evil\r\n250 STARTTLS\r\n",
		"STARTTLS": "220 go ahead\r\n250 injected\r\n",
	})
	e.dns.Add("example.net. 300 IN A 127.0.0.2")
	e.route("127.0.0.2", raw.addr)
	q := e.queue()
	id := e.enqueue("alice@example.org", rcpts("bob@example.net"), testMessage)
	e.runOnce(q)
	en, ok := e.entry(id)
	if !ok || !strings.Contains(en.Recipients[0].LastReply, "data after the STARTTLS reply") {
		t.Fatalf("entry %+v", en)
	}
	if got := raw.lines(); len(got) < 2 || got[0] != "EHLO mail.example.org" || got[1] != "STARTTLS" {
		t.Errorf("server got %q", got)
	}
}

// A 554 greeting sends the client to the next MX (RFC 5321 §3.1).
func TestGreeting554(t *testing.T) {
	e := newEnv(t)
	raw := newRawServer(t, map[string]string{"": "554 5.3.2 no service here\r\n", "QUIT": "221 bye\r\n"})
	f := newFakeMX(t, nil)
	e.dns.Add("example.net. 300 IN MX 10 mx1.example.net.", "example.net. 300 IN MX 20 mx2.example.net.",
		"mx1.example.net. 300 IN A 127.0.0.2", "mx2.example.net. 300 IN A 127.0.0.3")
	e.route("127.0.0.2", raw.addr)
	e.route("127.0.0.3", f.addr)
	q := e.queue()
	id := e.enqueue("alice@example.org", rcpts("bob@example.net"), testMessage)
	e.runOnce(q)
	if _, ok := e.entry(id); ok || len(f.messages()) != 1 {
		t.Fatalf("not delivered via mx2; log:\n%s", e.logs)
	}
	contains(t, "log", e.logs.String(), `host failed`, `mx1.example.net said: 554 5.3.2 no service here`)
}

// An old server without EHLO is spoken to with HELO, in the clear.
func TestHELOFallback(t *testing.T) {
	e := newEnv(t)
	raw := newRawServer(t, map[string]string{
		"":     "220 old\r\n",
		"EHLO": "500 what?\r\n",
		"HELO": "250 old\r\n",
		"MAIL": "250 ok\r\n",
		"RCPT": "250 ok\r\n",
		"DATA": "354 go\r\n",
		".":    "250 ok\r\n",
		"RSET": "250 ok\r\n",
		"QUIT": "221 bye\r\n",
	})
	e.dns.Add("example.net. 300 IN A 127.0.0.2")
	e.route("127.0.0.2", raw.addr)
	q := e.queue()
	id := e.enqueue("alice@example.org", rcpts("bob@example.net"), testMessage)
	e.runOnce(q)
	if _, ok := e.entry(id); ok {
		t.Fatalf("not delivered; server got %q; log:\n%s", raw.lines(), e.logs)
	}
	got := strings.Join(raw.lines(), "|")
	contains(t, "dialogue", got, "EHLO mail.example.org|EHLO mail.example.org|HELO mail.example.org|MAIL FROM:<alice@example.org>|RCPT TO:<bob@example.net>|DATA|")
}

// A pooled connection the server closed meanwhile is replaced.
func TestStalePooledSession(t *testing.T) {
	e := newEnv(t)
	f := newFakeMX(t, nil, func(s *smtp.Server) { s.ReadTimeout = 200 * time.Millisecond })
	e.dns.Add("example.net. 300 IN A 127.0.0.2")
	e.route("127.0.0.2", f.addr)
	q := e.queue()
	e.enqueue("alice@example.org", rcpts("bob@example.net"), testMessage)
	e.runOnce(q)
	waitFor(t, 10*time.Second, "the server to time the pooled connection out", func() bool { return f.closedConnections() == 1 })
	id := e.enqueue("alice@example.org", rcpts("carol@example.net"), testMessage)
	e.runOnce(q)
	if _, ok := e.entry(id); ok || len(f.messages()) != 2 {
		t.Fatalf("second message not delivered; log:\n%s", e.logs)
	}
	if n := f.connections(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

// Idle connections expire: prune closes those idle for longer than
// IdleTimeout and keeps the others; closeAll quits the rest.
func TestPoolExpiry(t *testing.T) {
	e := newEnv(t)
	f := newFakeMX(t, nil)
	e.dns.Add("example.net. 300 IN A 127.0.0.2")
	e.route("127.0.0.2", f.addr)
	q := e.queue(func(c *Config) { c.IdleTimeout = time.Minute })
	idleHosts := func() int {
		q.pool.mu.Lock()
		defer q.pool.mu.Unlock()
		return len(q.pool.idle)
	}
	e.enqueue("alice@example.org", rcpts("bob@example.net"), testMessage)
	e.runOnce(q)
	if n := idleHosts(); n != 1 {
		t.Fatalf("%d idle hosts after a delivery", n)
	}
	q.pool.prune()
	if n := idleHosts(); n != 1 {
		t.Fatalf("a fresh idle session was pruned: %d idle hosts", n)
	}
	e.enqueue("alice@example.org", rcpts("bob@example.net"), testMessage)
	e.runOnce(q)
	if c := f.connections(); c != 1 {
		t.Fatalf("%d connections, want 1 (the idle one reused)", c)
	}
	// Make the pooled session idle for longer than IdleTimeout.
	q.pool.mu.Lock()
	for _, list := range q.pool.idle {
		for _, s := range list {
			s.idleSince = s.idleSince.Add(-2 * time.Minute)
		}
	}
	q.pool.mu.Unlock()
	q.pool.prune()
	if n := idleHosts(); n != 0 {
		t.Fatalf("%d idle hosts after expiry", n)
	}
	waitFor(t, 10*time.Second, "the expired session to end", func() bool { return f.closedConnections() == 1 })
	e.enqueue("alice@example.org", rcpts("bob@example.net"), testMessage)
	e.runOnce(q)
	if c := f.connections(); c != 2 {
		t.Errorf("%d connections, want 2 (the first expired)", c)
	}
	q.pool.closeAll()
	if n := idleHosts(); n != 0 {
		t.Fatalf("%d idle hosts after closeAll", n)
	}
	waitFor(t, 10*time.Second, "closeAll to end the last session", func() bool { return f.closedConnections() == 2 })
	if n := len(f.messages()); n != 3 {
		t.Errorf("%d messages received, want 3", n)
	}
}

// What the message needs of the server, refused by it, bounces: SMTPUTF8
// for non-ASCII addresses (RFC 6531 §3.2), 8BITMIME for an 8-bit body
// (RFC 6152 §3), a SIZE large enough (RFC 1870).
func TestServerCapabilities(t *testing.T) {
	noExt := map[string]string{
		"":     "220 small\r\n",
		"EHLO": "250-small\r\n250 SIZE 100\r\n",
		"QUIT": "221 bye\r\n",
		"RSET": "250 ok\r\n",
	}
	tests := []struct {
		name   string
		rcpt   string
		adjust func(*deliver.Incoming)
		status string
	}{
		{"SMTPUTF8", "bøb@example.net", func(in *deliver.Incoming) { in.SMTPUTF8 = true }, "Status: 5.6.7"},
		{"8BITMIME", "bob@example.net", func(in *deliver.Incoming) { in.Body8Bit = true }, "Status: 5.6.3"},
		{"SIZE", "bob@example.net", func(*deliver.Incoming) {}, "Status: 5.3.4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			raw := newRawServer(t, noExt)
			e.dns.Add("example.net. 300 IN A 127.0.0.2")
			e.route("127.0.0.2", raw.addr)
			q := e.queue()
			id := e.enqueue("alice@example.org", rcpts(tt.rcpt), testMessage, tt.adjust)
			e.runOnce(q)
			if _, ok := e.entry(id); ok {
				t.Fatal("still queued")
			}
			box := inbox(t, e.st, e.alice)
			if len(box) != 1 {
				t.Fatalf("%d DSNs; log:\n%s", len(box), e.logs)
			}
			contains(t, "DSN", parseDSN(t, box[0]).status, tt.status)
			for _, l := range raw.lines() {
				if strings.HasPrefix(l, "MAIL") {
					t.Errorf("sent %q", l)
				}
			}
		})
	}
}
