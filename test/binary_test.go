package test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"postel/internal/config"
	"postel/internal/testutil"
)

// TestAdminCommands drives every admin subcommand, some while the server
// runs, and checks their effect through the running server.
func TestAdminCommands(t *testing.T) {
	in := newInstance(t, "")
	if out := in.admin("", "config", "check"); !strings.Contains(out, `hostname = "mx.test.example"`) || !strings.Contains(out, "max_message_size = 52428800") {
		t.Fatalf("config check printed:\n%s", out)
	}
	in.setup()
	in.start()
	// Beside the running server.
	in.admin("", "domain", "add", "second.example")
	in.admin("another password\n", "user", "add", "bob@second.example", "--password-stdin", "--quota", "1000000")
	in.admin("", "alias", "add", "team@example.org", "alice@example.org", "bob@second.example")
	in.admin("", "alias", "add", "@second.example", "bob@second.example")
	if out := in.admin("", "domain", "list"); out != "example.org\nsecond.example\n" {
		t.Fatalf("domain list = %q", out)
	}
	if out := in.admin("", "user", "list"); !regexp.MustCompile(`alice@example.org\s+none`).MatchString(out) ||
		!regexp.MustCompile(`bob@second.example\s+1000000`).MatchString(out) {
		t.Fatalf("user list = %q", out)
	}
	if out := in.admin("", "alias", "list"); !strings.Contains(out, "team@example.org -> alice@example.org, bob@second.example") ||
		!strings.Contains(out, "@second.example -> bob@second.example") {
		t.Fatalf("alias list = %q", out)
	}
	// The running server sees them at once: mail to the alias reaches alice.
	s := dialSMTP(t, in.ports["smtp"], false)
	s.cmd("EHLO client.example", "250")
	s.cmd("MAIL FROM:<x@remote.example>", "250")
	s.cmd("RCPT TO:<team@example.org>", "250")
	s.cmd("RCPT TO:<whoever@second.example>", "250") // catch-all
	s.data("Subject: to the team\r\n\r\nhello\r\n", "250")
	s.cmd("QUIT", "221")
	if got := in.messages("INBOX"); len(got) != 1 || !strings.HasSuffix(got[0], "Subject: to the team\r\n\r\nhello\r\n") {
		t.Fatalf("alice's INBOX = %q", got)
	}

	// A disabled account gets no mail; enabled again, it does.
	in.admin("", "user", "disable", "alice@example.org")
	if out := in.admin("", "user", "list"); !regexp.MustCompile(`alice@example.org\s+none\s+\d+\s+disabled`).MatchString(out) {
		t.Fatalf("user list after disable = %q", out)
	}
	s = dialSMTP(t, in.ports["smtp"], false)
	s.cmd("EHLO client.example", "250")
	s.cmd("MAIL FROM:<x@remote.example>", "250")
	s.cmd("RCPT TO:<alice@example.org>", "550")
	in.admin("", "user", "enable", "alice@example.org")
	s.cmd("RCPT TO:<alice@example.org>", "250")
	s.cmd("QUIT", "221")

	// Mailboxes: special-use ones are protected from a slip.
	in.admin("", "mailbox", "create", "alice@example.org", "Projects/Postel")
	if out := in.admin("", "mailbox", "list", "alice@example.org"); !regexp.MustCompile(`Projects/Postel\s+0`).MatchString(out) ||
		!regexp.MustCompile(`Sent\s+\\Sent`).MatchString(out) {
		t.Fatalf("mailbox list = %q", out)
	}
	if out, err := in.tryAdmin("", "mailbox", "delete", "alice@example.org", "Trash"); err == nil || !strings.Contains(out, "--force") {
		t.Fatalf("special-use mailbox deleted without --force: %v %s", err, out)
	}
	in.admin("", "mailbox", "delete", "alice@example.org", "Projects/Postel")
	in.admin("", "mailbox", "delete", "alice@example.org", "Trash", "--force")
	if out := in.admin("", "mailbox", "list", "alice@example.org"); strings.Contains(out, "Trash") || strings.Contains(out, "Projects") {
		t.Fatalf("mailbox list after delete = %q", out)
	}

	in.admin("yet another one\n", "user", "passwd", "bob@second.example", "--password-stdin")
	in.admin("", "user", "quota", "bob@second.example", "0")
	in.admin("", "alias", "del", "team@example.org", "bob@second.example")
	in.admin("", "alias", "del", "@second.example")
	if out, err := in.tryAdmin("", "domain", "del", "second.example"); err == nil {
		t.Fatalf("deleting a domain with accounts succeeded: %s", out)
	}
	in.admin("", "user", "del", "bob@second.example")
	in.admin("", "domain", "del", "second.example")
	if out := in.admin("", "domain", "list"); out != "example.org\n" {
		t.Fatalf("domain list after del = %q", out)
	}
	// Mistakes: exit status 2 for usage, 1 for refusals; short passwords refused.
	for _, c := range []struct {
		stdin string
		args  []string
		code  int
	}{
		{"", []string{"user", "add"}, 2},
		{"", []string{"nonsense"}, 2},
		{"short\n", []string{"user", "add", "carol@example.org", "--password-stdin"}, 1},
		{"", []string{"user", "add", "carol@example.org"}, 1}, // stdin is not a terminal
		{alicePassword + "\n", []string{"user", "add", "alice@example.org", "--password-stdin"}, 1},
	} {
		out, err := in.tryAdmin(c.stdin, c.args...)
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != c.code {
			t.Errorf("postel %v: err %v, want exit %d\n%s", c.args, err, c.code, out)
		}
	}
	for _, args := range [][]string{{"serve", "--help"}, {"user", "add", "--help"}, {"help"}} {
		if out, err := exec.Command(binary, args...).CombinedOutput(); err != nil || !strings.Contains(string(out), "usage: postel") {
			t.Errorf("postel %v: %v\n%s", args, err, out)
		}
	}
}

// TestRealClients delivers with curl, swaks and Python's smtplib, over the
// MX, submission with STARTTLS and implicit TLS.
func TestRealClients(t *testing.T) {
	in := newInstance(t, "")
	in.setup()
	in.start()

	// curl uploads the file as it is: the stored message must be the
	// server's prefix followed by exactly these bytes.
	body := "From: Someone <someone@remote.example>\r\nTo: alice@example.org\r\nSubject: exact bytes\r\n\r\n.leading dot\r\nline two\r\n"
	file := filepath.Join(t.TempDir(), "msg.eml")
	os.WriteFile(file, []byte(body), 0o600)
	mustRun(t, "curl", "-sS", "smtp://"+in.ports["smtp"], "--mail-from", "someone@remote.example", "--mail-rcpt", "alice@example.org", "-T", file)
	got := in.messages("INBOX")
	if len(got) != 1 || !strings.HasSuffix(got[0], "\r\n"+body) || !strings.HasPrefix(got[0], "Return-Path: <someone@remote.example>\r\nAuthentication-Results: mx.test.example; none (client in a trusted network, not checked)\r\nReceived: ") {
		t.Fatalf("stored %q", got)
	}

	// swaks: submission with STARTTLS and AUTH, to alice herself.
	mustRun(t, "swaks", "--server", in.ports["submission"], "--tls", "--auth", "PLAIN", "--auth-user", "alice@example.org",
		"--auth-password", alicePassword, "--from", "alice@example.org", "--to", "alice@example.org",
		"--header", "Subject: via swaks", "--body", "hello from swaks")
	// A wrong password fails.
	if out, err := exec.Command("swaks", "--server", in.ports["submission"], "--tls", "--auth", "LOGIN", "--auth-user", "alice@example.org",
		"--auth-password", "wrong password", "--from", "alice@example.org", "--to", "alice@example.org").CombinedOutput(); err == nil ||
		!strings.Contains(string(out), "535") {
		t.Fatalf("wrong password accepted or not 535:\n%s", out)
	}

	// Python's smtplib over implicit TLS (465) and STARTTLS (587).
	py := `
import smtplib, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
host, port = sys.argv[1].rsplit(":", 1)
if sys.argv[3] == "tls":
    s = smtplib.SMTP_SSL(host, int(port), context=ctx)
else:
    s = smtplib.SMTP(host, int(port))
    s.starttls(context=ctx)
s.login("alice@example.org", sys.argv[2])
s.sendmail("alice@example.org", ["alice@example.org", "friend@remote.example"],
    "From: alice@example.org\r\nTo: friend@remote.example\r\nSubject: via python " + sys.argv[3] + "\r\n\r\nhi\r\n")
s.quit()
`
	mustRun(t, "python3", "-c", py, in.ports["submissions"], alicePassword, "tls")
	mustRun(t, "python3", "-c", py, in.ports["submission"], alicePassword, "starttls")

	got = in.messages("INBOX")
	if len(got) != 4 {
		t.Fatalf("INBOX has %d messages, want 4", len(got))
	}
	for i, want := range []string{"exact bytes", "via swaks", "via python tls", "via python starttls"} {
		if !strings.Contains(got[i], "Subject: "+want) {
			t.Errorf("message %d lacks %q: %q", i, want, got[i])
		}
	}
	if !strings.Contains(got[2], "(authenticated as alice@example.org)") && !strings.Contains(got[2], "ESMTPSA") {
		t.Errorf("submission Received lacks the authenticated user: %q", got[2])
	}
	// The remote recipients went to the queue, one entry per message.
	q := in.queue()
	if len(q) != 2 || q[0].Recipients[0].Address != "friend@remote.example" {
		t.Fatalf("queue = %+v", q)
	}
}

// TestCrashAfter250: SIGKILL right after the 250; the message is there
// after a restart.
func TestCrashAfter250(t *testing.T) {
	in := newInstance(t, "")
	in.setup()
	in.start()
	s := in.dataToAlice(t)
	s.cmd("Subject: durable\r\n\r\nmust survive\r\n.", "250")
	in.stop(syscall.SIGKILL)
	in.start()
	got := in.messages("INBOX")
	if len(got) != 1 || !strings.HasSuffix(got[0], "Subject: durable\r\n\r\nmust survive\r\n") {
		t.Fatalf("after crash: %q", got)
	}
}

func countFiles(t *testing.T, dir string) int {
	n := 0
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}

// TestCrashMidData: SIGKILL in the middle of DATA; after a restart nothing
// is visible and no file is left behind.
func TestCrashMidData(t *testing.T) {
	in := newInstance(t, "")
	in.setup()
	in.start()
	data := filepath.Join(in.dir, "data")
	s := in.dataToAlice(t)
	s.send("Subject: half\r\n\r\n" + strings.Repeat("a line of a message that never ends\r\n", 20000))
	// Wait until the server has spooled some of it.
	deadline := time.Now().Add(10 * time.Second)
	for countFiles(t, filepath.Join(data, "tmp")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no spool file appeared")
		}
		time.Sleep(20 * time.Millisecond)
	}
	in.stop(syscall.SIGKILL)
	in.start()
	if got := in.messages("INBOX"); len(got) != 0 {
		t.Fatalf("half a message is visible: %d messages", len(got))
	}
	if n := countFiles(t, filepath.Join(data, "tmp")); n != 0 {
		t.Fatalf("%d spool files left", n)
	}
	if n := countFiles(t, filepath.Join(data, "msg")); n != 0 {
		t.Fatalf("%d body files left", n)
	}
}

// TestSIGTERMFinishesTransaction: on SIGTERM the server stops accepting but
// the DATA in flight completes with 250 and is stored.
func TestSIGTERMFinishesTransaction(t *testing.T) {
	in := newInstance(t, "")
	in.setup()
	in.start()
	s := in.dataToAlice(t)
	s.send("Subject: in flight\r\n\r\nfirst half\r\n")
	in.cmd.Process.Signal(syscall.SIGTERM)
	// New connections are refused once the listeners are closed.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := dialTimeout(in.ports["smtp"])
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting after SIGTERM")
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.cmd("second half\r\n.", "250")
	if err := <-in.exited; err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	in.running = false
	in.start()
	if got := in.messages("INBOX"); len(got) != 1 || !strings.HasSuffix(got[0], "first half\r\nsecond half\r\n") {
		t.Fatalf("after SIGTERM: %q", got)
	}
}

// TestDevMode runs serve --dev as a new user would, then the copy-paste
// command its banner prints. The dev configuration (config.Dev, whose
// fixed loopback ports TestDev in internal/config checks) is given as a
// file with free ports instead, so that the test never depends on ports
// 2525...2995 being free.
func TestDevMode(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr *testutil.SyncBuffer
	var ports map[string]string
	for try := 1; ; try++ {
		ports = devConfig(t, dir)
		cmd := exec.Command(binary, "serve", "--dev", "--config", "postel-dev.toml")
		cmd.Dir = dir
		stdout, stderr = &testutil.SyncBuffer{}, &testutil.SyncBuffer{}
		cmd.Stdout, cmd.Stderr = stdout, stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		t.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			<-exited
		})
		err := waitBanner(stdout, exited)
		if err == nil {
			break
		}
		if try == 3 || !strings.Contains(stderr.String(), "address already in use") {
			t.Fatalf("%v\n%s\n%s", err, stdout.String(), stderr.String())
		}
	}
	banner := stdout.String()
	for _, want := range []string{ports["smtp"], ports["submission"], ports["submissions"], ports["imap"], ports["imaps"], ports["pop3"], ports["pop3s"], "demo@example.org"} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}
	pw := regexp.MustCompile(`Password: (\S+)`).FindStringSubmatch(banner)
	send := regexp.MustCompile(`(?m)^  (printf .*curl .*)$`).FindStringSubmatch(banner)
	if pw == nil || send == nil {
		t.Fatalf("banner lacks the password or the send command:\n%s", banner)
	}
	if out, err := exec.Command("bash", "-c", send[1]).CombinedOutput(); err != nil {
		t.Fatalf("the banner's command failed: %v\n%s", err, out)
	}
	// The demo account can submit with its password (plaintext allowed on
	// loopback in dev mode).
	mustRun(t, "swaks", "--server", ports["submission"], "--auth", "PLAIN", "--auth-user", "demo@example.org", "--auth-password", pw[1],
		"--from", "demo@example.org", "--to", "demo@example.org")
	if _, err := os.Stat(filepath.Join(dir, "data", "postel.db")); err != nil {
		t.Fatalf("no store under ./data: %v", err)
	}
	if n := strings.Count(stderr.String(), "result=delivered"); n != 2 {
		t.Fatalf("%d deliveries logged, want 2\n%s", n, stderr.String())
	}
}

// devConfig writes dir/postel-dev.toml: the dev configuration with data in
// ./data, every listener on a free loopback port; it returns the ports.
func devConfig(t *testing.T, dir string) map[string]string {
	t.Helper()
	c := config.Dev("./data")
	// Every listener dev mode sets, whichever there are, gets a free port.
	listen := reflect.ValueOf(&c.Listen).Elem()
	free := freePorts(t, listen.NumField())
	ports := map[string]string{}
	for i := range listen.NumField() {
		if f := listen.Field(i); f.Kind() == reflect.String && f.String() != "" {
			f.SetString(free[i])
			ports[strings.ToLower(listen.Type().Field(i).Name)] = free[i]
		}
	}
	for _, k := range mailListeners {
		if ports[k] == "" {
			t.Fatalf("config.Dev sets no %s listener", k)
		}
	}
	var b bytes.Buffer
	if err := c.Encode(&b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "postel-dev.toml"), b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return ports
}

// waitBanner waits for the dev banner's last line, or for the process to end.
func waitBanner(stdout *testutil.SyncBuffer, exited chan error) error {
	deadline := time.After(60 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !strings.Contains(stdout.String(), "Stop with Ctrl-C") {
		select {
		case err := <-exited:
			exited <- err // for the cleanup
			return fmt.Errorf("serve --dev exited: %v", err)
		case <-deadline:
			return errors.New("no banner within a minute")
		case <-tick.C:
		}
	}
	return nil
}

func dialTimeout(addr string) (net.Conn, error) {
	return net.DialTimeout("tcp", addr, time.Second)
}
