package smtpserver

import (
	"bytes"
	"context"
	"encoding/pem"
	"fmt"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"postel/internal/testutil/accounts"
)

// External clients: Python's smtplib and swaks speak to the servers as real
// deployments would. Both must be installed (the project's test script
// installs them); a missing one fails the test.

// run executes a command with a timeout and returns its combined output
// and whether it exited with status 0.
func run(t *testing.T, name string, args ...string) (string, bool) {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is required for this test: %v", name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s timed out:\n%s", name, out)
	}
	return string(out), err == nil
}

// caFile writes the test certificate as PEM, for clients that verify it.
func (h *harness) caFile(t *testing.T) string {
	cert, err := accounts.Cert()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// pythonClient sends one message with smtplib. argv: mode host port cafile
// user password from to; the message comes on stdin. Mode "starttls" or
// "ssl" (implicit TLS); user "" skips login. It prints the outcome.
const pythonClient = `
import smtplib, ssl, sys
mode, host, port, cafile, user, password, sender, rcpt = sys.argv[1:9]
msg = sys.stdin.buffer.read()
ctx = ssl.create_default_context(cafile=cafile)
try:
    if mode == "ssl":
        s = smtplib.SMTP_SSL(host, int(port), local_hostname="python.example", context=ctx, timeout=30)
    else:
        s = smtplib.SMTP(host, int(port), local_hostname="python.example", timeout=30)
        if mode == "starttls":
            s.starttls(context=ctx)
    if user:
        s.login(user, password)
    refused = s.sendmail(sender, [rcpt], msg)
    s.quit()
    print("OK", refused)
except smtplib.SMTPResponseException as e:
    print("SMTP", e.smtp_code, e.smtp_error.decode())
    sys.exit(1)
except smtplib.SMTPRecipientsRefused as e:
    print("REFUSED", e.recipients)
    sys.exit(1)
`

// smtplib returns a function that runs pythonClient against h.
func (h *harness) smtplib(t *testing.T) func(mode, addr, user, pass, from, to, msg string) (string, bool) {
	ca := h.caFile(t)
	return func(mode, addr, user, pass, from, to, msg string) (string, bool) {
		host, port, _ := strings.Cut(addr, ":")
		path, err := exec.LookPath("python3")
		if err != nil {
			t.Fatalf("python3 is required for this test: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, path, "-c", pythonClient, mode, host, port, ca, user, pass, from, to)
		cmd.Stdin = strings.NewReader(msg)
		out, err := cmd.CombinedOutput()
		return string(out), err == nil
	}
}

// TestSubmissionCompletesHeader: as an MSA does (RFC 6409 §8), a message
// submitted without From, Date and Message-ID arrives with all three, From
// naming the authenticated user; with HideSubmissionClient the Received
// field names neither the client's address nor its login.
func TestSubmissionCompletesHeader(t *testing.T) {
	for _, hide := range []bool{true, false} {
		t.Run(fmt.Sprintf("hide=%v", hide), func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.HideSubmissionClient = hide })
			py := h.smtplib(t)
			msg := "To: bob@example.org\r\nSubject: bare\r\n\r\nNo From, no Date, no Message-ID.\r\n"
			if out, ok := py("starttls", h.subAddr, "alice@example.org", alicePass, "alice@example.org", "bob@example.org", msg); !ok || !strings.HasPrefix(out, "OK {}") {
				t.Fatalf("smtplib: %s", out)
			}
			msgs := h.inbox("bob@example.org")
			if len(msgs) != 1 {
				t.Fatalf("bob has %d messages", len(msgs))
			}
			m, err := mail.ReadMessage(bytes.NewReader(msgs[0]))
			if err != nil {
				t.Fatal(err)
			}
			from, err := m.Header.AddressList("From")
			if err != nil || len(from) != 1 || from[0].Address != "alice@example.org" {
				t.Errorf("From = %v, %v", from, err)
			}
			if _, err := m.Header.Date(); err != nil {
				t.Errorf("Date: %v", err)
			}
			if id := m.Header.Get("Message-Id"); !strings.HasSuffix(id, "@mx.example.org>") {
				t.Errorf("Message-ID = %q", id)
			}
			rcv := strings.Join(m.Header["Received"], "\n")
			leaks := strings.Contains(rcv, "127.0.0.1") || strings.Contains(rcv, "python.example") || strings.Contains(rcv, "alice")
			if leaks == hide || !strings.Contains(rcv, "by mx.example.org with ESMTPSA id ") {
				t.Errorf("hide=%v, Received: %s", hide, rcv)
			}
		})
	}
}

func TestPythonSMTPLib(t *testing.T) {
	h := newHarness(t)
	py := h.smtplib(t)

	msg := "From: alice@example.org\r\nTo: bob@example.org\r\nSubject: from python\r\n" +
		"Message-ID: <py1@example.org>\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\n\r\nHello from smtplib.\r\n"
	for _, tc := range []struct{ name, mode, addr string }{
		{"STARTTLS 587", "starttls", h.subAddr},
		{"implicit TLS 465", "ssl", h.subTLSAddr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(h.inbox("bob@example.org"))
			out, ok := py(tc.mode, tc.addr, "alice@example.org", alicePass, "alice@example.org", "bob@example.org", msg)
			if !ok || !strings.HasPrefix(out, "OK {}") {
				t.Fatalf("smtplib: %s", out)
			}
			msgs := h.inbox("bob@example.org")
			if len(msgs) != before+1 {
				t.Fatalf("bob has %d messages; want %d", len(msgs), before+1)
			}
			_, rcv, _ := parsePrefixFrom(t, splitPrefix(t, msgs[len(msgs)-1], msg), "python.example")
			if rcv[1] != "ESMTPSA" || rcv[7] != "alice@example.org" {
				t.Errorf("Received: %q", rcv[0])
			}
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		out, ok := py("starttls", h.subAddr, "alice@example.org", "wrong", "alice@example.org", "bob@example.org", msg)
		if ok || !strings.HasPrefix(out, "SMTP 535 5.7.8") {
			t.Fatalf("smtplib: %s", out)
		}
	})
	t.Run("MX", func(t *testing.T) {
		body := "From: someone@remote.net\r\nSubject: mx\r\n\r\nto the MX\r\n"
		out, ok := py("starttls", h.mxAddr, "", "", "someone@remote.net", "alice@example.org", body)
		if !ok {
			t.Fatalf("smtplib: %s", out)
		}
		msgs := h.inbox("alice@example.org")
		if len(msgs) != 1 {
			t.Fatalf("alice has %d messages", len(msgs))
		}
		splitPrefix(t, msgs[0], body)
		out, ok = py("plain", h.mxAddr, "", "", "someone@remote.net", "victim@remote.net", body)
		if ok || !strings.Contains(out, "554") || !strings.Contains(out, "5.7.1") {
			t.Fatalf("relay through the MX: %s", out)
		}
	})
}

func TestSwaks(t *testing.T) {
	h := newHarness(t)
	swaks := func(args ...string) (string, bool) {
		return run(t, "swaks", append([]string{"--helo", "swaks.example", "--timeout", "30"}, args...)...)
	}
	t.Run("MX", func(t *testing.T) {
		out, ok := swaks("--server", h.mxAddr, "--from", "x@remote.net", "--to", "alice@example.org",
			"--header", "Subject: from swaks")
		if !ok {
			t.Fatalf("swaks: %s", out)
		}
		msgs := h.inbox("alice@example.org")
		if len(msgs) != 1 || !strings.Contains(string(msgs[0]), "\r\nSubject: from swaks\r\n") {
			t.Fatalf("alice's messages: %q", msgs)
		}
		_, rcv, _ := parsePrefixFrom(t, traceFields(msgs[0]), "swaks.example")
		if rcv[1] != "ESMTP" || rcv[9] != "alice@example.org" {
			t.Errorf("Received: %q", rcv[0])
		}
	})
	t.Run("MX STARTTLS pipelined", func(t *testing.T) {
		out, ok := swaks("--server", h.mxAddr, "--tls", "--pipeline", "--from", "x@remote.net", "--to", "bob@example.org")
		if !ok || !strings.Contains(out, "TLS started") {
			t.Fatalf("swaks: %s", out)
		}
		if n := len(h.inbox("bob@example.org")); n != 1 {
			t.Fatalf("bob has %d messages", n)
		}
	})
	t.Run("relay denied", func(t *testing.T) {
		out, ok := swaks("--server", h.mxAddr, "--from", "x@remote.net", "--to", "victim@remote.net")
		if ok || !strings.Contains(out, "554 5.7.1") {
			t.Fatalf("swaks relay: %s", out)
		}
		if q := h.queue(); len(q) != 0 {
			t.Fatalf("queued: %+v", q)
		}
	})
	for _, tc := range []struct{ name, mech, tls, addr string }{
		{"PLAIN STARTTLS", "PLAIN", "--tls", h.subAddr},
		{"LOGIN implicit TLS", "LOGIN", "--tls-on-connect", h.subTLSAddr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(h.inbox("bob@example.org"))
			out, ok := swaks("--server", tc.addr, tc.tls, "--auth", tc.mech, "--auth-user", "alice@example.org",
				"--auth-password", alicePass, "--from", "alice@example.org", "--to", "bob@example.org")
			if !ok {
				t.Fatalf("swaks: %s", out)
			}
			if n := len(h.inbox("bob@example.org")); n != before+1 {
				t.Fatalf("bob has %d messages; want %d", n, before+1)
			}
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		out, ok := swaks("--server", h.subAddr, "--tls", "--auth", "PLAIN", "--auth-user", "alice@example.org",
			"--auth-password", "wrong", "--from", "alice@example.org", "--to", "bob@example.org")
		if ok || !strings.Contains(out, "535 5.7.8") {
			t.Fatalf("swaks: %s", out)
		}
	})
	t.Run("spoofed From", func(t *testing.T) {
		out, ok := swaks("--server", h.subAddr, "--tls", "--auth", "PLAIN", "--auth-user", "alice@example.org",
			"--auth-password", alicePass, "--from", "alice@example.org", "--to", "bob@example.org",
			"--header", "From: bob@example.org")
		if ok || !strings.Contains(out, "550 5.7.1") {
			t.Fatalf("swaks: %s", out)
		}
	})
}
