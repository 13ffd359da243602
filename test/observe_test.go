package test

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"postel/internal/dns/dnstest"
	"postel/internal/testutil"
	"postel/internal/testutil/scrape"
)

// Observability (issue 11, part 6), black-box: metrics scraped with
// Prometheus's parser after known traffic, /readyz, protocol traces
// (postel trace, and trace files) that show logins without passwords,
// and the mail log.

// obsAdminURL is the running instance's admin listener, as its log says
// it bound it.
func obsAdminURL(t *testing.T, in *instance) string {
	t.Helper()
	m := regexp.MustCompile(`msg=listening listener=admin addr=(\S+)`).FindStringSubmatch(in.stderr.String())
	if m == nil {
		t.Fatalf("no admin listener in the log:\n%s", in.stderr.String())
	}
	return "http://" + m[1]
}

// obsWait polls cond, which looks at what a process wrote, until it
// holds or a minute passes.
func obsWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// obsLines are the lines of the server's log that hold every part.
func obsLines(in *instance, parts ...string) []string {
	var out []string
	for _, l := range strings.Split(in.stderr.String(), "\n") {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(l, p)
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}

// obsLogin logs in over IMAP with password and returns the tagged
// response.
func obsLogin(t *testing.T, in *instance, password string) string {
	t.Helper()
	s := dialIMAP(t, in.ports["imap"], false)
	r := s.cmd("a", fmt.Sprintf("a LOGIN alice@example.org %q", password))
	s.cmd("z", "z LOGOUT")
	return r
}

// obsDeliver sends a message to the MX for rcpt and returns the SMTP id.
func obsDeliver(t *testing.T, in *instance, rcpt, body string) string {
	t.Helper()
	s := dialSMTP(t, in.ports["smtp"], false)
	s.cmd("EHLO client.example", "250")
	s.cmd("MAIL FROM:<sender@example.net>", "250")
	s.cmd("RCPT TO:<"+rcpt+">", "250")
	reply := s.data("From: sender@example.net\r\nSubject: observed\r\n\r\n"+body+"\r\n", "250")
	id := strings.TrimSpace(strings.TrimPrefix(reply, "250 2.0.0 Ok: queued as "))
	s.cmd("QUIT", "221")
	return id
}

// obsSubmit submits over plain text on loopback (the instance allows
// it), authenticated as alice, to rcpts.
func obsSubmit(t *testing.T, in *instance, body string, rcpts ...string) {
	t.Helper()
	in.submitMail(t, false, "From: alice@example.org\r\nSubject: submitted\r\n\r\n"+body+"\r\n", rcpts...)
}

// TestMetricsAfterTraffic: after known traffic (deliveries to the MX, a
// refused recipient, IMAP logins right and wrong, a submission queued
// for a remote domain), a Prometheus text parser reads from /metrics
// exactly those counts; /healthz and /readyz say the server runs and is
// ready.
func TestMetricsAfterTraffic(t *testing.T) {
	in := newInstance(t, "[auth]\nallow_plaintext_loopback = true\n")
	in.setup()
	in.start()
	base := obsAdminURL(t, in)

	const deliveries, good, bad = 3, 2, 2
	for i := range deliveries {
		obsDeliver(t, in, "alice@example.org", fmt.Sprintf("message %d", i))
	}
	s := dialSMTP(t, in.ports["smtp"], false)
	s.cmd("EHLO client.example", "250")
	s.cmd("MAIL FROM:<sender@example.net>", "250")
	s.cmd("RCPT TO:<nobody@example.org>", "550")
	s.cmd("QUIT", "221")
	for range good {
		if r := obsLogin(t, in, alicePassword); !strings.HasPrefix(r, "a OK") {
			t.Fatalf("login: %s", r)
		}
	}
	for range bad {
		if r := obsLogin(t, in, "not the password"); !strings.HasPrefix(r, "a NO") {
			t.Fatalf("wrong password: %s", r)
		}
	}
	obsSubmit(t, in, "to the world", "carol@example.net")

	f, err := scrape.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"postel_messages_received_total", []string{"service", "smtp"}, deliveries},
		{"postel_messages_received_total", []string{"service", "submission"}, 1},
		{"postel_mail_recipients_total", []string{"outcome", "delivered"}, deliveries},
		{"postel_mail_recipients_total", []string{"outcome", "refused"}, 1},
		{"postel_mail_recipients_total", []string{"outcome", "queued"}, 1},
		{"postel_logins_total", []string{"protocol", "imap", "result", "ok"}, good},
		{"postel_logins_total", []string{"protocol", "imap", "result", "failed"}, bad},
		{"postel_logins_total", []string{"protocol", "smtp", "result", "ok"}, 1},
		{"postel_logins_total", []string{"protocol", "pop3", "result", "ok"}, 0},
		{"postel_connections_accepted_total", []string{"service", "smtp"}, deliveries + 1},
		{"postel_connections_accepted_total", []string{"service", "imap"}, good + bad},
		{"postel_connections_accepted_total", []string{"service", "submission"}, 1},
		{"postel_connections_accepted_total", []string{"service", "pop3"}, 0},
		{"postel_queue_messages", nil, 1},
	} {
		if got, ok := f.Value(c.name, c.labels...); !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v; series %v", c.name, c.labels, got, ok, c.want, f.Series(c.name))
		}
	}
	for _, name := range []string{"postel_received_bytes_total", "postel_sent_bytes_total"} {
		if v, _ := f.Value(name, "service", "smtp"); v < deliveries*50 {
			t.Errorf("%s{smtp} = %v", name, v)
		}
	}
	if n, _ := f.Value("postel_store_commit_duration_seconds"); n < deliveries {
		t.Errorf("%v commits measured", n)
	}
	if v, ok := f.Value("postel_certificate_expiry_timestamp_seconds", "name", "mx.test.example", "source", "self-signed"); !ok ||
		time.Unix(int64(v), 0).Before(time.Now()) {
		t.Errorf("certificate expiry %v (present %v): %v", v, ok, f.Series("postel_certificate_expiry_timestamp_seconds"))
	}
	if age, ok := f.Value("postel_queue_oldest_age_seconds"); !ok || age < 0 || age > 600 {
		t.Errorf("queue age %v (present %v)", age, ok)
	}
	for path, want := range map[string]string{"/healthz": "ok\n", "/readyz": "ready\n"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 64)
		n, _ := resp.Body.Read(b)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b[:n]) != want {
			t.Errorf("%s: %d %q", path, resp.StatusCode, b[:n])
		}
	}
}

// TestTraceLogin: postel trace of the client's address and of alice
// shows her IMAP LOGIN, SMTP AUTH PLAIN and POP3 PASS sessions, their
// commands and replies, but never her password, its base64, nor the
// bodies of the messages sent with DATA and APPEND or read with RETR.
func TestTraceLogin(t *testing.T) {
	in := newInstance(t, "[auth]\nallow_plaintext_loopback = true\n")
	in.setup()
	in.start()

	out := &testutil.SyncBuffer{}
	errOut := &testutil.SyncBuffer{}
	tr := exec.Command(binary, "trace", "127.0.0.1", "alice@example.org", "--config", in.config)
	tr.Stdout, tr.Stderr = out, errOut
	if err := tr.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- tr.Wait() }()
	ended := false
	t.Cleanup(func() {
		if !ended {
			tr.Process.Kill()
			<-exited
		}
	})
	obsWait(t, "the trace to start", func() bool { return strings.Contains(out.String(), "*: tracing alice@example.org, 127.0.0.1") })

	const smtpBody, imapBody = "smtp-body-that-stays-private", "imap-body-that-stays-private"
	obsSubmit(t, in, smtpBody, "alice@example.org")

	s := dialIMAP(t, in.ports["imap"], false)
	s.cmd("a", fmt.Sprintf("a LOGIN alice@example.org %q", alicePassword))
	msg := "Subject: appended\r\n\r\n" + imapBody + "\r\n"
	fmt.Fprintf(s.c, "b APPEND INBOX {%d}\r\n", len(msg))
	if l := s.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("APPEND: %q", l)
	}
	if r := s.cmd("b", msg); !strings.HasPrefix(r, "b OK") {
		t.Fatalf("APPEND: %s", r)
	}
	s.cmd("z", "z LOGOUT")

	p := dial(t, in.ports["pop3"], false, 30*time.Second)
	pr := bufio.NewReader(p)
	for _, c := range []string{"", "USER alice@example.org", "PASS " + alicePassword, "RETR 1"} {
		if c != "" {
			fmt.Fprintf(p, "%s\r\n", c)
		}
		if l, _ := pr.ReadString('\n'); !strings.HasPrefix(l, "+OK") {
			t.Fatalf("POP3 %q: %q", c, l)
		}
	}
	for {
		l, err := pr.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if l == ".\r\n" {
			break
		}
	}
	fmt.Fprintf(p, "QUIT\r\n")
	pr.ReadString('\n')

	obsWait(t, "the three sessions in the trace", func() bool { return strings.Count(out.String(), "*: connection closed") >= 3 })
	tr.Process.Signal(syscall.SIGINT)
	select {
	case err := <-exited:
		ended = true
		if err != nil {
			t.Fatalf("postel trace after Ctrl-C: %v\n%s", err, errOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("postel trace did not end on Ctrl-C")
	}
	got := out.String()
	for _, want := range []string{
		"submission conn=", "C: AUTH PLAIN ***", "S: 235 2.0.0 Authentication succeeded", "C: RCPT TO:<alice@example.org>",
		"C: [message data: ", "imap conn=", "C: a LOGIN alice@example.org ***", "S: a OK",
		fmt.Sprintf("C: b APPEND INBOX {%d}", len(msg)), "pop3 conn=", "C: USER alice@example.org", "C: PASS ***",
		"C: RETR 1", "S: [message: ", "C: QUIT", " alice@example.org C: ",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("trace lacks %q", want)
		}
	}
	for _, secret := range []string{alicePassword, plain("alice@example.org", alicePassword),
		base64.StdEncoding.EncodeToString([]byte(alicePassword)), smtpBody, imapBody, "Subject: appended"} {
		if strings.Contains(got, secret) {
			t.Errorf("trace shows %q", secret)
		}
	}
	if t.Failed() {
		t.Logf("trace:\n%s", got)
	}
	if len(obsLines(in, `msg="admin stream started"`, "component=control", "command=trace")) != 1 {
		t.Error("the trace did not go through the control socket")
	}
}

// TestTraceFile: [log] trace_accounts writes alice's sessions, her login
// included, to data_dir/traces/alice@example.org.log, readable by the
// server's user only, without her password.
func TestTraceFile(t *testing.T) {
	in := newInstance(t, "[auth]\nallow_plaintext_loopback = true\n[log]\ntrace_accounts = [\"alice@example.org\"]\n")
	in.setup()
	in.start()
	if r := obsLogin(t, in, alicePassword); !strings.HasPrefix(r, "a OK") {
		t.Fatalf("login: %s", r)
	}
	file := filepath.Join(in.dir, "data", "traces", "alice@example.org.log")
	var got string
	obsWait(t, "the trace file", func() bool {
		b, _ := os.ReadFile(file)
		got = string(b)
		return strings.Contains(got, "*: connection closed")
	})
	for _, want := range []string{"imap conn=", " alice@example.org S: * OK", " alice@example.org C: a LOGIN alice@example.org ***", "C: z LOGOUT"} {
		if !strings.Contains(got, want) {
			t.Errorf("trace file lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, alicePassword) {
		t.Errorf("trace file shows the password:\n%s", got)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("trace file mode %v, %v", fi.Mode(), err)
	}
}

// TestMailLog: one msg=mail line per message and recipient outcome, so
// that grep answers "did it arrive?": on the sending server, a local
// delivery (with its mailbox), a refused recipient (with the code), the
// remote recipient queued then delivered to the other server's MX (with
// its reply); on the receiving one, the delivery into carol's INBOX.
func TestMailLog(t *testing.T) {
	zone := dnstest.New(t)
	rx := carolsServer(t, zone, "")
	tx := newInstance(t, queueTo(zone, "example.net", rx.ports["smtp"], "poll_interval = \"500ms\"\n")+"[auth]\nallow_plaintext_loopback = true\n")
	tx.setup()
	tx.start()

	local := obsDeliver(t, tx, "alice@example.org", "for alice")
	s := dialSMTP(t, tx.ports["smtp"], false)
	s.cmd("EHLO client.example", "250")
	s.cmd("MAIL FROM:<sender@example.net>", "250")
	s.cmd("RCPT TO:<nobody@example.org>", "550")
	s.cmd("QUIT", "221")
	obsSubmit(t, tx, "for carol", "carol@example.net")

	var sent []string
	obsWait(t, "the remote delivery in the log", func() bool {
		sent = obsLines(tx, " msg=mail ", " to=carol@example.net ", " result=sent ")
		return len(sent) > 0
	})
	if len(sent) != 1 || !containsEvery(sent[0], " queue_id=", " from=alice@example.org ", " mx=mx.example.net ", " code=250 ",
		` reply="2.0.0 Ok: queued as `, " delay=") {
		t.Errorf("sent line: %q", sent)
	}
	queueID := regexp.MustCompile(` queue_id=(\d+) `).FindStringSubmatch(sent[0])
	for _, c := range []struct {
		in    *instance
		parts []string
	}{
		{tx, []string{" msg=mail ", " id=" + local + " ", " from=sender@example.net ", " to=alice@example.org ", " size=",
			" result=delivered ", " mailbox=INBOX ", " delay="}},
		{tx, []string{" msg=mail ", " from=sender@example.net ", " to=nobody@example.org ", " result=refused ", " code=550 ",
			` reply="5.1.1 No such user here"`, ` reason="no such user"`}},
		{tx, []string{" msg=mail ", " queue_id=" + queueID[1] + " ", " from=alice@example.org ", " to=carol@example.net ", " result=queued "}},
		{rx, []string{" msg=mail ", " from=alice@example.org ", " to=carol@example.net ", " result=delivered ", " mailbox=INBOX "}},
	} {
		if got := obsLines(c.in, c.parts...); len(got) != 1 {
			t.Errorf("%d log lines with %q, want 1", len(got), c.parts)
		}
	}
	// grep 'msg=mail.*carol@' on the sender: queued, then sent.
	re := regexp.MustCompile(`msg=mail.*carol@`)
	var results []string
	for _, l := range strings.Split(tx.stderr.String(), "\n") {
		if re.MatchString(l) {
			results = append(results, regexp.MustCompile(` result=(\w+)`).FindStringSubmatch(l)[1])
		}
	}
	if strings.Join(results, ",") != "queued,sent" {
		t.Errorf("grep 'msg=mail.*carol@' gives %v, want queued then sent", results)
	}
}

func containsEvery(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
