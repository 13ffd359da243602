package test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/authres"

	"postel/internal/dns/dnstest"
)

// checkedInstance is a Postel whose MX checks every message (no trusted
// network), asking a test DNS server that publishes the senders' records.
// Clients connect from 127.0.0.1, which good.example's SPF authorizes.
func checkedInstance(t *testing.T) *instance {
	zone := dnstest.New(t)
	zone.Add(
		`good.example. 300 IN TXT "v=spf1 ip4:127.0.0.1 -all"`,
		`_dmarc.good.example. 300 IN TXT "v=DMARC1; p=reject"`,
		`quarantine.example. 300 IN TXT "v=spf1 -all"`,
		`_dmarc.quarantine.example. 300 IN TXT "v=DMARC1; p=quarantine"`,
		`example.org. 300 IN TXT "v=spf1 -all"`,
	)
	in := newInstance(t, fmt.Sprintf("[dns]\nservers = [%q]\ntimeout = \"2s\"\nattempts = 1\n[inbound]\ncheck_timeout = \"10s\"\n", zone.Addr))
	in.setup()
	in.start()
	return in
}

// swaksMX sends one message to alice over the MX with swaks and returns
// its transcript and whether swaks succeeded.
func (in *instance) swaksMX(t *testing.T, from string, args ...string) (string, bool) {
	t.Helper()
	out, err := runOut("swaks", append([]string{"--server", in.ports["smtp"], "--from", from, "--to", "alice@example.org",
		"--helo", "mail.good.example"}, args...)...)
	return out, err == nil
}

// fetch reads one message of alice's over IMAPS with curl.
func (in *instance) fetch(t *testing.T, mailbox string, uid int) string {
	t.Helper()
	return mustRun(t, "curl", "-sSk", "--user", "alice@example.org:"+alicePassword,
		fmt.Sprintf("imaps://%s/%s;UID=%d", in.ports["imaps"], mailbox, uid))
}

// headerValues returns the values of the fields named name in a fetched
// message, unfolded (RFC 5322 §2.2.3: the line breaks removed).
func headerValues(msg, name string) []string {
	hdr, _, _ := strings.Cut(strings.ReplaceAll(msg, "\r\n", "\n"), "\n\n")
	hdr = strings.ReplaceAll(strings.ReplaceAll(hdr, "\n\t", "\t"), "\n ", " ")
	var out []string
	for _, line := range strings.Split(hdr, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, name) {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}

// TestMessageChecks drives the port 25 checks of the built binary with
// swaks, and reads the results back over IMAP with curl and imaplib.
func TestMessageChecks(t *testing.T) {
	in := checkedInstance(t)

	t.Run("spoofed local sender refused", func(t *testing.T) {
		out, ok := in.swaksMX(t, "ceo@remote.example", "--header", "From: The Boss <alice@example.org>")
		if ok || !strings.Contains(out, "550 5.7.1 spoofed sender: example.org is local") {
			t.Fatalf("swaks:\n%s", out)
		}
		if n := len(in.messages("INBOX")); n != 0 {
			t.Errorf("stored anyway: %d", n)
		}
	})

	t.Run("forged Authentication-Results stripped", func(t *testing.T) {
		out, ok := in.swaksMX(t, "a@good.example", "--header", "From: a@good.example",
			"--add-header", "Authentication-Results: mx.test.example; dkim=pass header.d=bank.example; dmarc=pass header.from=bank.example",
			"--add-header", "Authentication-Results: relay.elsewhere.example; spf=pass smtp.mailfrom=good.example")
		if !ok {
			t.Fatalf("swaks:\n%s", out)
		}
		msg := in.fetch(t, "INBOX", 1)
		var ours, theirs, spf, dmarc int
		for _, v := range headerValues(msg, "Authentication-Results") {
			id, results, err := authres.Parse(v)
			if err != nil {
				t.Fatalf("authres.Parse(%q): %v", v, err)
			}
			switch id {
			case "mx.test.example":
				ours++
				for _, r := range results {
					switch r := r.(type) {
					case *authres.SPFResult:
						spf++
						if r.Value != authres.ResultPass {
							t.Errorf("spf=%s", r.Value)
						}
					case *authres.DKIMResult:
						if r.Value == authres.ResultPass {
							t.Errorf("the forged dkim=pass survived: %q", v)
						}
					case *authres.DMARCResult:
						dmarc++
						if r.Value != authres.ResultPass || r.From != "good.example" {
							t.Errorf("dmarc=%s header.from=%s", r.Value, r.From)
						}
					}
				}
			case "relay.elsewhere.example":
				theirs++
			}
		}
		if ours != 1 || theirs != 1 || spf != 1 || dmarc != 1 {
			t.Errorf("%d fields of ours (%d spf, %d dmarc results), %d of the relay's, in\n%s", ours, spf, dmarc, theirs, msg)
		}
	})

	t.Run("quarantine to Junk, moved out, next in INBOX", func(t *testing.T) {
		const sender = "news@quarantine.example"
		if out, ok := in.swaksMX(t, sender, "--header", "From: News <"+sender+">", "--header", "Subject: first"); !ok {
			t.Fatalf("swaks:\n%s", out)
		}
		msg := in.fetch(t, "Junk", 1)
		if v := headerValues(msg, "X-Postel-Junk"); len(v) != 1 || v[0] != "yes; quarantined by the DMARC policy of quarantine.example" {
			t.Fatalf("X-Postel-Junk %q in\n%s", v, msg)
		}
		// The user takes it out of Junk with imaplib (UID MOVE, RFC 6851).
		py := `
typ, data = m.select("Junk")
assert typ == "OK" and data == [b"1"], data
typ, data = m.uid("MOVE", "1", "INBOX")
assert typ == "OK", (typ, data)
m.logout()
print("moved")
`
		if out := in.pythonIMAP(t, py); !strings.Contains(out, "moved") {
			t.Fatal(out)
		}
		before := len(in.messages("INBOX"))
		if out, ok := in.swaksMX(t, sender, "--header", "From: News <"+sender+">", "--header", "Subject: second"); !ok {
			t.Fatalf("swaks:\n%s", out)
		}
		inbox := in.messages("INBOX")
		if len(inbox) != before+1 || len(in.messages("Junk")) != 0 {
			t.Fatalf("INBOX %d (was %d), Junk %d", len(inbox), before, len(in.messages("Junk")))
		}
		last := inbox[len(inbox)-1]
		if v := headerValues(last, "X-Postel-Junk"); len(v) != 1 || !strings.HasPrefix(v[0], "no; you moved 1 earlier message from "+sender+" out of Junk") {
			t.Errorf("X-Postel-Junk %q in\n%s", v, last)
		}
	})
}

// TestSubmissionHeader: a message submitted without From, Date and
// Message-ID (Python's smtplib sends the bytes as given) arrives with all
// three, From being the authenticated address, and by default its
// Received field names neither the client's address nor its login.
func TestSubmissionHeader(t *testing.T) {
	in := newInstance(t, "")
	in.setup()
	in.start()
	py := `
import smtplib, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
host, port = sys.argv[1].rsplit(":", 1)
s = smtplib.SMTP(host, int(port), local_hostname="laptop.home.example")
s.starttls(context=ctx)
s.login("alice@example.org", sys.argv[2])
s.sendmail("alice@example.org", ["alice@example.org"], b"To: alice@example.org\r\nSubject: bare\r\n\r\nno From, Date or Message-ID\r\n")
s.quit()
print("sent")
`
	if out := mustRun(t, "python3", "-c", py, in.ports["submission"], alicePassword); !strings.Contains(out, "sent") {
		t.Fatal(out)
	}
	msg := in.fetch(t, "INBOX", 1)
	if v := headerValues(msg, "From"); len(v) != 1 || v[0] != "<alice@example.org>" {
		t.Errorf("From %q", v)
	}
	if v := headerValues(msg, "Date"); len(v) != 1 {
		t.Errorf("Date %q", v)
	}
	if v := headerValues(msg, "Message-ID"); len(v) != 1 || !strings.HasSuffix(v[0], "@mx.test.example>") {
		t.Errorf("Message-ID %q", v)
	}
	rcv := headerValues(msg, "Received")
	if len(rcv) != 1 || !strings.HasPrefix(rcv[0], "by mx.test.example with ESMTPSA id ") {
		t.Fatalf("Received %q", rcv)
	}
	for _, leak := range []string{"127.0.0.1", "laptop.home.example", "authenticated"} {
		if strings.Contains(rcv[0], leak) {
			t.Errorf("Received shows %q: %s", leak, rcv[0])
		}
	}
}
