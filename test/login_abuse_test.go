package test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// loginResult is how a server answered one login.
type loginResult string

const (
	loginOK        loginResult = "ok"
	loginFailed    loginResult = "failed"    // wrong credentials
	loginThrottled loginResult = "throttled" // come back later
)

// loginFrom logs alice in with password on one of the implicit-TLS
// listeners (submissions, imaps, pop3s), from the loopback address local,
// with a raw dialogue, and sorts the server's answer.
func (in *instance) loginFrom(t *testing.T, local, listener, password string) (loginResult, string) {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 10 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", in.ports[listener], &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("dial %s from %s: %v", listener, local, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	r := bufio.NewReader(c)
	line := func() string {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("%s from %s: reading: %v (got %q)", listener, local, err, l)
		}
		return strings.TrimRight(l, "\r\n")
	}
	send := func(s string) {
		if _, err := fmt.Fprintf(c, "%s\r\n", s); err != nil {
			t.Fatalf("%s from %s: writing: %v", listener, local, err)
		}
	}
	// reply reads an SMTP reply, returning its last line.
	reply := func() string {
		for {
			l := line()
			if len(l) < 4 || l[3] != '-' {
				return l
			}
		}
	}
	var answer string
	var res loginResult
	switch listener {
	case "submissions":
		reply()
		send("EHLO client.example")
		reply()
		send("AUTH PLAIN " + plain("alice@example.org", password))
		answer = reply()
		switch {
		case strings.HasPrefix(answer, "235 "):
			res = loginOK
		case strings.HasPrefix(answer, "535 5.7.8"):
			res = loginFailed
		case strings.HasPrefix(answer, "454 4.7.0"):
			res = loginThrottled
		}
	case "imaps":
		line()
		send("a LOGIN alice@example.org " + strconv.Quote(password))
		for answer = line(); strings.HasPrefix(answer, "* "); answer = line() {
		}
		switch {
		case strings.HasPrefix(answer, "a OK"):
			res = loginOK
		case strings.HasPrefix(answer, "a NO [AUTHENTICATIONFAILED]"):
			res = loginFailed
		case strings.HasPrefix(answer, "a NO [UNAVAILABLE]"):
			res = loginThrottled
		}
	case "pop3s":
		line()
		send("USER alice@example.org")
		line()
		send("PASS " + password)
		answer = line()
		switch {
		case strings.HasPrefix(answer, "+OK"):
			res = loginOK
		case strings.HasPrefix(answer, "-ERR [AUTH]"):
			res = loginFailed
		case strings.HasPrefix(answer, "-ERR [SYS/TEMP]"):
			res = loginThrottled
		}
	}
	if res == "" {
		t.Fatalf("%s from %s: unexpected answer %q", listener, local, answer)
	}
	return res, answer
}

var loginListeners = []string{"submissions", "imaps", "pop3s"}

// TestLoginAbuse: a stranger guessing alice's password from 127.0.0.2 is
// delayed, then locked out, on every protocol, while alice logs in at
// once from 127.0.0.1 with real clients; postel user unlock, and a
// password change, end the stranger's lockout.
func TestLoginAbuse(t *testing.T) {
	in := newInstance(t, "")
	in.setup()
	in.start()
	const attacker = "127.0.0.2"

	// Twenty wrong passwords from the attacker. The first three in turn:
	// each answer is delayed more (250ms, 500ms, 1s by default).
	for i := range 3 {
		start := time.Now()
		if res, ans := in.loginFrom(t, attacker, loginListeners[i], "guess"); res != loginFailed {
			t.Fatalf("wrong password %d: %s %q", i+1, res, ans)
		}
		if took := time.Since(start); i == 2 && took < time.Second {
			t.Errorf("the third failure was answered after %v, want the 1s delay", took)
		}
	}
	// Seventeen more at once, over the three protocols: the failure
	// limit (10) is counted before the passwords are hashed, so exactly
	// seven more are checked and ten are refused.
	var mu sync.Mutex
	count := map[loginResult]int{}
	var wg sync.WaitGroup
	for i := range 17 {
		wg.Go(func() {
			res, _ := in.loginFrom(t, attacker, loginListeners[i%3], fmt.Sprint("guess ", i))
			mu.Lock()
			count[res]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if count[loginFailed] != 7 || count[loginThrottled] != 10 {
		t.Fatalf("17 parallel wrong passwords: %v, want 7 failed and 10 throttled", count)
	}

	// Alice, from 127.0.0.1, with smtplib, imaplib and poplib: at once.
	py := `
import imaplib, poplib, smtplib, ssl, sys, time
host, smtp, imap, pop, pw = "127.0.0.1", int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
def timed(name, f):
    t = time.monotonic(); f(); print(name, "ok %.3f" % (time.monotonic() - t))
def s():
    c = smtplib.SMTP_SSL(host, smtp, context=ctx, timeout=30); c.login("alice@example.org", pw); c.quit()
def i():
    c = imaplib.IMAP4_SSL(host, imap, ssl_context=ctx, timeout=30); c.login("alice@example.org", pw); c.select("INBOX"); c.logout()
def p():
    c = poplib.POP3_SSL(host, pop, context=ctx, timeout=30); c.user("alice@example.org"); c.pass_(pw); c.stat(); c.quit()
timed("smtp", s); timed("imap", i); timed("pop3", p)
`
	port := func(k string) string { _, p, _ := net.SplitHostPort(in.ports[k]); return p }
	out := mustRun(t, "python3", "-c", py, port("submissions"), port("imaps"), port("pop3s"), alicePassword)
	for _, proto := range []string{"smtp", "imap", "pop3"} {
		var secs float64
		i := strings.Index(out, proto+" ok")
		if i < 0 {
			t.Fatalf("alice's %s login from 127.0.0.1 did not succeed:\n%s", proto, out)
		}
		if _, err := fmt.Sscanf(out[i:], proto+" ok %g", &secs); err != nil {
			t.Fatalf("alice's %s login from 127.0.0.1: %v\n%s", proto, err, out)
		}
		if secs > 10 {
			t.Errorf("alice's %s login took %.1fs: not at once", proto, secs)
		}
	}
	t.Logf("alice from 127.0.0.1 during the lockout:\n%s", out)

	// The attacker is locked out: even the right password is refused.
	for _, l := range loginListeners {
		if res, ans := in.loginFrom(t, attacker, l, alicePassword); res != loginThrottled {
			t.Errorf("%s: the locked attacker's right password: %s %q", l, res, ans)
		}
	}
	logs := in.stderr.String()
	for _, want := range []string{`msg="auth lockout started"`, `msg="auth refused"`, `limit="source locked out"`, "remote=127.0.0.2"} {
		if !strings.Contains(logs, want) {
			t.Errorf("server log lacks %s", want)
		}
	}
	if strings.Contains(logs, "guess") || strings.Contains(logs, alicePassword) {
		t.Errorf("a password is in the server log")
	}

	// postel user unlock, in another process, clears it.
	if out := in.admin("", "user", "unlock", "alice@example.org"); out != "unlocked alice@example.org\n" {
		t.Errorf("user unlock said %q", out)
	}
	for _, l := range loginListeners {
		if res, ans := in.loginFrom(t, attacker, l, alicePassword); res != loginOK {
			t.Errorf("%s: after user unlock, the right password from %s: %s %q", l, attacker, res, ans)
		}
	}
	if out, err := in.tryAdmin("", "user", "unlock", "nobody@example.org"); err == nil {
		t.Errorf("user unlock of an unknown account succeeded: %q", out)
	}

	// A password change clears a lockout too: lock 127.0.0.3 out at once.
	const second = "127.0.0.3"
	count = map[loginResult]int{}
	for i := range 12 {
		wg.Go(func() {
			res, _ := in.loginFrom(t, second, loginListeners[i%3], fmt.Sprint("guess ", i))
			mu.Lock()
			count[res]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if count[loginFailed] != 10 || count[loginThrottled] != 2 {
		t.Fatalf("12 parallel wrong passwords from %s: %v, want 10 failed and 2 throttled", second, count)
	}
	if res, _ := in.loginFrom(t, second, "imaps", alicePassword); res != loginThrottled {
		t.Fatalf("%s is not locked out: %s", second, res)
	}
	in.admin("a new password\n", "user", "passwd", "alice@example.org", "--password-stdin")
	for _, l := range loginListeners {
		if res, ans := in.loginFrom(t, second, l, "a new password"); res != loginOK {
			t.Errorf("%s: after the password change, the new password from %s: %s %q", l, second, res, ans)
		}
	}
}
