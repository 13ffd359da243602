package test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// raiseFileLimit raises this process's soft limit of open files to need
// (within the hard limit) and logs it.
func raiseFileLimit(t *testing.T, need uint64) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	if rl.Cur < need {
		rl.Cur = min(need, rl.Max)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("open files: soft limit %d, hard limit %d", rl.Cur, rl.Max)
	if rl.Cur < need {
		t.Fatalf("this test needs %d open files", need)
	}
}

// memory returns the VmHWM (peak resident set) and VmRSS lines of a
// process, in kB.
func memory(t *testing.T, pid int) (peak, now int) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "VmHWM:" {
			fmt.Sscan(f[1], &peak)
		}
		if len(f) >= 2 && f[0] == "VmRSS:" {
			fmt.Sscan(f[1], &now)
		}
	}
	return peak, now
}

// holdIdle opens n connections to addr from sources loopback addresses
// 127.0.<net>.2 and up, n/sources from each, and never says a word.
func holdIdle(t *testing.T, addr string, n, sources int, netByte byte) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for i := range n {
		d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, netByte, byte(2+i%sources))}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	return conns
}

// evictions counts the log lines of idle unauthenticated connections
// evicted by svc ("service=imap"), which name the limit and the client.
func (in *instance) evictions(svc string) int {
	n := 0
	for line := range strings.SplitSeq(in.stderr.String(), "\n") {
		if strings.Contains(line, `msg="connection dropped"`) && strings.Contains(line, svc) &&
			strings.Contains(line, "limit=max_unauth") && strings.Contains(line, "remote=127.0.") {
			n++
		}
	}
	return n
}

// saidLast reads what the server wrote to an idle connection until it
// closed it.
func saidLast(c net.Conn) string {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, _ := io.ReadAll(c)
	return string(b)
}

// TestIdleConnectionFlood: 1,000 idle, never authenticated connections
// from 100 loopback addresses on IMAP, and as many on port 25, fill the
// servers' connection limits (1000 each by default); a real IMAP client
// (imaplib: login, SELECT) and a real SMTP client (smtplib: a delivery)
// still get through, because each new connection evicts the oldest idle
// unauthenticated one. The server's peak memory is logged.
func TestIdleConnectionFlood(t *testing.T) {
	raiseFileLimit(t, 4096)
	in := newInstance(t, "")
	in.setup()
	in.start()
	pid := in.cmd.Process.Pid
	peak0, _ := memory(t, pid)

	imapIdle := holdIdle(t, in.ports["imap"], 1000, 100, 0)
	smtpIdle := holdIdle(t, in.ports["smtp"], 1000, 100, 1)
	// The budget of unauthenticated connections is half the total: once
	// the newest 500 of each service are left, the server holds 1,000.
	deadline := time.Now().Add(30 * time.Second)
	for in.evictions("service=imap") < 500 || in.evictions("service=smtp-mx") < 500 {
		if time.Now().After(deadline) {
			t.Fatalf("evictions: imap %d, smtp %d", in.evictions("service=imap"), in.evictions("service=smtp-mx"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	peakIdle, rssIdle := memory(t, pid)

	py := `
import imaplib, smtplib, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
host, port = sys.argv[1].rsplit(":", 1)
m = imaplib.IMAP4_SSL(host, int(port), ssl_context=ctx, timeout=20)
m.login("alice@example.org", sys.argv[2])
typ, data = m.select("INBOX")
assert typ == "OK", (typ, data)
m.logout()
host, port = sys.argv[3].rsplit(":", 1)
s = smtplib.SMTP(host, int(port), timeout=20)
s.ehlo("client.example")
s.sendmail("x@remote.example", ["alice@example.org"], b"From: x@remote.example\r\nSubject: through the flood\r\n\r\nhello\r\n")
s.quit()
print("real clients ok")
`
	out := mustRun(t, "python3", "-c", py, in.ports["imaps"], alicePassword, in.ports["smtp"])
	if !strings.Contains(out, "real clients ok") {
		t.Fatal(out)
	}
	if got := in.messages("INBOX"); len(got) != 1 || !strings.Contains(got[0], "Subject: through the flood") {
		t.Fatalf("INBOX: %q", got)
	}
	peak, rss := memory(t, pid)
	t.Logf("server memory: VmHWM %d kB at start, %d kB after 2,000 idle connections (1,000 kept; VmRSS %d kB), %d kB at the end, after a login's password hash (VmRSS %d kB)",
		peak0, peakIdle, rssIdle, peak, rss)
	if peak > 512<<10 {
		t.Errorf("peak RSS %d kB: memory is not bounded as it should be", peak)
	}

	// The oldest idle connections were told why they go; the log has one
	// line per eviction, naming the limit and the client.
	if got := saidLast(imapIdle[0]); !strings.HasSuffix(got, "* BYE Too many connections, closing this idle one\r\n") {
		t.Errorf("oldest idle IMAP connection: %q", got)
	}
	if got := saidLast(smtpIdle[0]); !strings.HasSuffix(got, "421 4.7.0 Too many connections, closing this idle one\r\n") {
		t.Errorf("oldest idle SMTP connection: %q", got)
	}
	for _, svc := range []string{"service=imap", "service=smtp-mx"} {
		// 500 for the flood, one for the real client.
		if n := in.evictions(svc); n != 501 {
			t.Errorf("%s: %d evictions logged, want 501", svc, n)
		}
	}
	logs := in.stderr.String()
	if strings.Contains(logs, `msg="connection refused"`) {
		t.Errorf("connections refused during the flood")
	}
}

// trickle writes s n octets at a time, one write every interval, as a
// slowloris client does, until all is written or a write fails.
func trickle(conn net.Conn, s string, n int, every time.Duration) {
	go func() {
		for len(s) > 0 {
			k := min(n, len(s))
			if _, err := conn.Write([]byte(s[:k])); err != nil {
				return
			}
			s = s[k:]
			time.Sleep(every)
		}
	}()
}

// TestSlowClients: with short deadlines in the config, a command line sent
// at one octet a second is cut at its deadline on SMTP, IMAP and POP3, and
// so is a message's data, sent so or steadily but too slowly; a line ".\r"
// in DATA is refused as a bare CR.
// The lines would take far longer than the deadlines, which are absolute,
// not renewed by each octet.
func TestSlowClients(t *testing.T) {
	in := newInstance(t, `[smtp]
read_timeout = "2s"
data_timeout = "3s"
[limits]
unauthenticated_timeout = "2s"
`)
	in.setup()
	in.start()
	// cut reads to the end of the connection, which must come well before
	// the trickled line would be complete.
	cut := func(c net.Conn, r *bufio.Reader) string {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		b, err := io.ReadAll(r)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("connection not cut (read %q)", b)
		}
		return string(b)
	}

	t.Run("SMTP command line", func(t *testing.T) {
		s := dialSMTP(t, in.ports["smtp"], false)
		s.cmd("EHLO client.example", "250")
		s.cmd("MAIL FROM:<x@remote.example>", "250")
		trickle(s.c, "RCPT TO:<alice@example.org>\r\n", 1, time.Second)
		if got := cut(s.c, s.r); !strings.HasPrefix(got, "421 4.4.2 ") {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("SMTP DATA", func(t *testing.T) {
		s := in.dataToAlice(t)
		trickle(s.c, "Subject: slow\r\n\r\n"+strings.Repeat("x", 40)+"\r\n.\r\n", 1, time.Second)
		if got := cut(s.c, s.r); !strings.HasPrefix(got, "421 4.4.2 ") {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("SMTP DATA, steady", func(t *testing.T) {
		// 4 KiB every 300 ms: no read of 32 KiB waits 3 s, the whole
		// does.
		s := in.dataToAlice(t)
		trickle(s.c, "Subject: slow\r\n\r\n"+strings.Repeat(strings.Repeat("x", 78)+"\r\n", 1200)+".\r\n", 4<<10, 300*time.Millisecond)
		if got := cut(s.c, s.r); !strings.HasPrefix(got, "421 4.4.2 ") {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("SMTP dot CR", func(t *testing.T) {
		s := in.dataToAlice(t)
		s.send("Subject: dot CR\r\n\r\nfirst\r\n.\rhidden\r\n")
		if got := s.cmd(".", "550"); !strings.HasPrefix(got, "550 5.6.0 ") {
			t.Fatalf("got %q", got)
		}
		s.cmd("NOOP", "250")
	})
	for _, c := range []struct {
		name, listener, greeting, line, want string
	}{
		{"IMAP command line", "imap", "* OK", "a1 CAPABILITY\r\n", "* BYE Login timeout\r\n"},
		{"POP3 command line", "pop3", "+OK", "USER alice@example.org\r\n", ""}, // RFC 1939 §3: closed without a word
	} {
		t.Run(c.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", in.ports[c.listener])
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			r := bufio.NewReader(conn)
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			if g, _ := r.ReadString('\n'); !strings.HasPrefix(g, c.greeting) {
				t.Fatalf("greeting %q", g)
			}
			trickle(conn, c.line, 1, time.Second)
			if got := cut(conn, r); got != c.want {
				t.Fatalf("got %q", got)
			}
		})
	}
	if got := in.messages("INBOX"); len(got) != 0 {
		t.Errorf("INBOX has %d messages, want none", len(got))
	}
	logs := in.stderr.String()
	for _, want := range []string{"limit=read_timeout", "limit=data_timeout", "limit=unauth_timeout", `msg=rejected`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s", want)
		}
	}
}
