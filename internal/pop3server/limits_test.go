package pop3server

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
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

// dialFrom connects to the plain listener from a loopback address of its
// own (127.0.0.2 and up need no set-up on Linux) and reads the first line.
func (h *harness) dialFrom(from string) (*raw, string) {
	h.t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", h.addr)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	r := &raw{t: h.t, c: c, br: bufio.NewReader(c)}
	return r, r.line()
}

// cut reads what the server says to a client it drops, up to the end of
// the connection, within a margin far below what the client would need to
// finish (the server's deadlines are a few seconds, a trickled line takes
// 8 or more); it returns what was said.
func (r *raw) cut() string {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	b, err := io.ReadAll(r.br)
	// A reset is a close too: the trickling client may still write after it.
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		r.t.Fatalf("connection not closed (read %q)", b)
	}
	return string(b)
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
// after it IdleTimeout since the command began), without a reply (RFC
// 1939 §3's autologout) and with a log line naming the limit.
func TestSlowCommandLine(t *testing.T) {
	t.Run("before login", func(t *testing.T) {
		h := newHarness(t, func(c *Config) { c.Limits.UnauthTimeout = 2 * time.Second })
		r := h.dial()
		trickle(r.c, "USER alice@example.org\r\n", time.Second)
		if got := r.cut(); got != "" {
			t.Fatalf("got %q", got)
		}
		h.waitLog(`msg="session timed out"`, "limit=unauth_timeout", "remote=127.0.0.1")
	})
	t.Run("logged in", func(t *testing.T) {
		h := newHarness(t, func(c *Config) { c.IdleTimeout = 2 * time.Second })
		r := h.login()
		trickle(r.c, "LIST 1\r\n", time.Second)
		if got := r.cut(); got != "" {
			t.Fatalf("got %q", got)
		}
		h.waitLog(`msg="session timed out"`, "limit=idle_timeout")
	})
}

// TestEvictionPOP3: when the unauthenticated budget is full, a new
// connection evicts the oldest one waiting for its client, which gets
// "-ERR [SYS/TEMP]", with a log line; logged-in sessions keep their slots.
func TestEvictionPOP3(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Limits.MaxUnauth = 2 })
	user := h.login()
	oldest := h.dial()
	newer := h.dial()
	h.dial()
	if got := oldest.cut(); got != "-ERR [SYS/TEMP] Too many connections, closing this idle one\r\n" {
		t.Fatalf("oldest idle connection got %q", got)
	}
	h.waitLog(`msg="connection dropped"`, "limit=max_unauth", "remote=127.0.0.1")
	newer.expect("CAPA", "+OK")
	user.expect("STAT", "+OK")
}

// TestConnRatePOP3: past Limits.ConnRate connections a minute from one
// source, "-ERR [SYS/TEMP]" and a log line naming the limit and the client.
func TestConnRatePOP3(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Limits.LimitLoopback = true
		c.Limits.ConnRate = 2
	})
	for range 2 {
		if _, g := h.dialFrom("127.0.0.2"); !strings.HasPrefix(g, "+OK") {
			t.Fatalf("greeting %q", g)
		}
	}
	r, g := h.dialFrom("127.0.0.2")
	if g != "-ERR [SYS/TEMP] Too many connections from your address in the last minute, slow down" {
		t.Fatalf("third connection in a minute: %q", g)
	}
	r.cut()
	h.waitLog(`msg="connection refused"`, "limit=conn_rate", "remote=127.0.0.2")
	if _, g := h.dialFrom("127.0.0.3"); !strings.HasPrefix(g, "+OK") {
		t.Fatalf("another source: %q", g)
	}
}
