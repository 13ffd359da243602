package test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"math/big"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Reload without restart (issue 11, part 2): SIGHUP and postel reload read
// the certificate files and the config again; open sessions keep running.

// TestReloadCertificates: the operator's certificate files replaced, then
// SIGHUP: new IMAPS and SMTP STARTTLS connections get the new certificate
// (verified, as a client does, against the test's CA for the hostname)
// while an IMAP session opened before keeps working; the same with
// postel reload; a broken replacement keeps the certificate in service,
// and the server up, until a good one comes.
func TestReloadCertificates(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	install := func() *big.Int {
		t.Helper()
		certPEM, keyPEM, s := ca.issue(t, harnessHost)
		// The key first: a poll between the two renames sees a pair that
		// does not match, which keeps the certificate in service.
		replaceFile(t, keyFile, keyPEM)
		replaceFile(t, certFile, certPEM)
		return s
	}
	serialA := install()
	in := newInstance(t, fmt.Sprintf("[tls]\ncert_file = %q\nkey_file = %q\n", certFile, keyFile))
	in.setup()
	in.start()
	servedSerials(t, in, ca.pool, serialA)
	old := openIMAPSession(t, in.ports["imaps"], verifyingConfig(ca.pool))
	if _, err := old.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}

	// SIGHUP.
	serialB := install()
	mark := in.logLen()
	if err := in.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	in.waitLogLine(t, mark, "msg=reloaded")
	servedSerials(t, in, ca.pool, serialB)
	old.stillWorks(t, serialA)

	// postel reload, through the control socket.
	serialC := install()
	if out := in.admin("", "reload"); !strings.HasPrefix(out, "reloaded") {
		t.Fatalf("postel reload printed %q", out)
	}
	servedSerials(t, in, ca.pool, serialC)
	old.stillWorks(t, serialA)

	// A broken certificate file: the one in service stays.
	replaceFile(t, certFile, []byte("-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n"))
	mark = in.logLen()
	if err := in.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	line, _ := in.waitLogLine(t, mark, "level=ERROR", `msg="reload: kept what was in use for what failed"`)
	if !strings.Contains(line, certFile) {
		t.Errorf("the error does not name the file: %s", line)
	}
	servedSerials(t, in, ca.pool, serialC)
	old.stillWorks(t, serialA)
	// postel reload says it failed, and why.
	out, err := in.tryAdmin("", "reload")
	if err == nil || !strings.Contains(out, "certificates") {
		t.Errorf("postel reload with a broken certificate: %v, printed %q", err, out)
	}
	servedSerials(t, in, ca.pool, serialC)
	if n := len(in.logLines(0, "msg=ready")); n != 1 {
		t.Fatalf("%d ready lines: the server restarted", n)
	}

	// Fixed: the next reload serves it.
	serialD := install()
	mark = in.logLen()
	if err := in.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	in.waitLogLine(t, mark, "msg=reloaded")
	servedSerials(t, in, ca.pool, serialD)
	old.stillWorks(t, serialA)
	if err := in.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}

// TestReloadConfig: SIGHUP reads the config again: a new log.level
// applies at once, to sessions already open too (the debug line of a
// NOOP), so do new connection limits (a lowered per-source limit refuses
// the next connection while the open session goes on), and a changed key
// that cannot change live is named in the log as applied at the next
// start; log.level and the limits are not.
func TestReloadConfig(t *testing.T) {
	in := newInstance(t, "[log]\nlevel = \"info\"\n[smtp]\nmax_recipients = 50\n[limits]\nmax_connections_per_source = 20\n")
	in.setup()
	in.start()
	old := openIMAPSession(t, in.ports["imaps"], &tls.Config{InsecureSkipVerify: true})
	if err := old.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if d := in.logLines(0, "level=DEBUG"); len(d) > 0 {
		t.Fatalf("debug lines at level info: %q", d)
	}

	in.editConfig(t, `level = "info"`, `level = "debug"`)
	in.editConfig(t, "max_recipients = 50", "max_recipients = 60")
	in.editConfig(t, "max_connections_per_source = 20", "max_connections_per_source = 1")
	mark := in.logLen()
	if err := in.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	in.waitLogLine(t, mark, "msg=reloaded")
	later := in.logLines(mark, `msg="reload: changed in the configuration, applied at the next start"`)
	if len(later) != 1 || !strings.Contains(later[0], "keys=[smtp.max_recipients]") || !strings.Contains(later[0], "level=WARN") {
		t.Fatalf("the keys that wait for a restart, logged: %q", later)
	}
	// The open session holds this address's one connection now allowed:
	// a second one is refused (over implicit TLS the refusal comes before
	// the handshake, which then fails), and the log names the limit.
	c, err := tls.Dial("tcp", in.ports["imaps"], &tls.Config{InsecureSkipVerify: true})
	if err == nil {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		greeting, _ := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if !strings.HasPrefix(greeting, "* BYE ") {
			t.Errorf("a second connection after lowering max_connections_per_source to 1: %q", greeting)
		}
	}
	in.waitLogLine(t, mark, "limit=max_conns_per_ip")
	if err := old.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	in.waitLogLine(t, mark, "level=DEBUG", "msg=command", "command=NOOP")

	// A config that does not validate changes nothing, and says so.
	in.editConfig(t, `level = "debug"`, `level = "loud"`)
	mark = in.logLen()
	if err := in.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	line, _ := in.waitLogLine(t, mark, "level=ERROR", `msg="reload: the configuration was not applied"`)
	if !strings.Contains(line, "log.level") {
		t.Errorf("the error does not name the key: %s", line)
	}
	mark = in.logLen()
	if err := old.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	in.waitLogLine(t, mark, "level=DEBUG", "msg=command", "command=NOOP")
	if err := in.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}
