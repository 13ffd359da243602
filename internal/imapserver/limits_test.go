package imapserver

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
)

// trickle writes s one octet every interval, as a slowloris client does,
// until all is written or a write fails.
func trickle(conn net.Conn, s string, every time.Duration) {
	go func() {
		for i := range len(s) {
			if _, err := conn.Write([]byte{s[i]}); err != nil {
				return
			}
			time.Sleep(every)
		}
	}()
}

// dialFrom connects to addr from a loopback address of its own (127.0.0.2
// and up need no set-up on Linux) and reads the first line.
func (h *harness) dialFrom(addr, from string) (*raw, string) {
	h.t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	r := &raw{t: h.t, c: c, br: bufio.NewReader(c)}
	return r, r.line()
}

// cut reads what the server says to a client it drops, up to the end of
// the connection, within a margin far below what the client would need
// to finish (the server's deadlines are a few seconds, a trickled line
// takes 15 or more); it returns the lines.
func (r *raw) cut() []string {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	b, err := io.ReadAll(r.br)
	// A reset is a close too: the trickling client may still write after it.
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		r.t.Fatalf("connection not closed (read %q)", b)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\r\n"), "\r\n")
}

// waitLog waits for a log line holding every one of parts.
func (h *harness) waitLog(parts ...string) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, line := range strings.Split(h.logs.String(), "\n") {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(line, p)
			}
			if ok {
				return
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("no log line with %q", parts)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSlowCommandLine: a command line sent at one octet a second is cut
// when its deadline passes (before login AuthTimeout since connecting,
// after it IdleTimeout since the command began), not renewed by each
// octet; the deadlines are far shorter than the lines take.
func TestSlowCommandLine(t *testing.T) {
	t.Run("before login", func(t *testing.T) {
		h := newHarness(t, func(c *Config) { c.Limits.UnauthTimeout = 2 * time.Second })
		r := h.dial(h.addr)
		trickle(r.c, "a1 CAPABILITY\r\n", time.Second)
		if got := r.cut(); len(got) != 1 || got[0] != "* BYE Login timeout" {
			t.Fatalf("got %q", got)
		}
		h.waitLog(`msg="session timed out"`, "limit=unauth_timeout", "remote=127.0.0.1")
	})
	t.Run("logged in", func(t *testing.T) {
		h := newHarness(t, func(c *Config) { c.IdleTimeout = 2 * time.Second })
		r := h.login()
		trickle(r.c, "a2 SELECT INBOX\r\n", time.Second)
		if got := r.cut(); len(got) != 1 || got[0] != "* BYE Autologout; idle for too long" {
			t.Fatalf("got %q", got)
		}
		h.waitLog(`msg="session timed out"`, "limit=idle_timeout")
	})
}

// TestEvictionIMAP: when the unauthenticated budget is full, a new
// connection evicts the oldest one waiting for its client, which gets a
// BYE, with a log line; logged-in sessions keep their slots.
func TestEvictionIMAP(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Limits.MaxUnauth = 2 })
	user := h.login()
	oldest := h.dial(h.addr)
	newer := h.dial(h.addr)
	h.dial(h.addr)
	if got := oldest.cut(); len(got) != 1 || got[0] != "* BYE Too many connections, closing this idle one" {
		t.Fatalf("oldest idle connection got %q", got)
	}
	h.waitLog(`msg="connection dropped"`, "limit=max_unauth", "remote=127.0.0.1")
	if got := newer.cmd("NOOP"); got[len(got)-1] != "T OK NOOP completed" {
		t.Fatalf("newer connection: %q", got)
	}
	if got := user.cmd("SELECT INBOX"); !strings.HasPrefix(got[len(got)-1], "T OK") {
		t.Fatalf("logged-in session: %q", got)
	}
}

// TestConnRateIMAP: past Limits.ConnRate connections a minute from one
// source, a BYE and a log line naming the limit and the client.
func TestConnRateIMAP(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Limits.LimitLoopback = true
		c.Limits.ConnRate = 2
	})
	for range 2 {
		if _, g := h.dialFrom(h.addr, "127.0.0.2"); !strings.HasPrefix(g, "* OK") {
			t.Fatalf("greeting %q", g)
		}
	}
	r, g := h.dialFrom(h.addr, "127.0.0.2")
	if g != "* BYE Too many connections from your address in the last minute, slow down" {
		t.Fatalf("third connection in a minute: %q", g)
	}
	r.cut()
	h.waitLog(`msg="connection refused"`, "limit=conn_rate", "remote=127.0.0.2")
	if _, g := h.dialFrom(h.addr, "127.0.0.3"); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("another source: %q", g)
	}
}

// TestExhaustionIMAP: far more idle connections from many sources than
// the server takes cannot keep a user out: each new one evicts the oldest
// idle one, and a real client logs in and selects INBOX.
func TestExhaustionIMAP(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Limits.MaxConns = 60
		c.Limits.MaxConnsPerIP = 10
	})
	var conns []net.Conn
	for i := range 200 {
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(2+i%40))}}
		c, err := d.Dial("tcp", h.addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	c, err := imapclient.DialInsecure(h.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("alice@example.org", alicePass).Wait(); err != nil {
		t.Fatalf("login amid idle connections: %v", err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	evicted := 0
	for i, nc := range conns[:100] {
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, _ := io.ReadAll(nc)
		if strings.HasSuffix(string(b), "* BYE Too many connections, closing this idle one\r\n") {
			evicted++
		} else if i == 0 {
			t.Logf("the oldest got %q", b)
		}
	}
	if evicted != 100 {
		t.Errorf("%d of the 100 oldest idle connections were evicted", evicted)
	}
}
