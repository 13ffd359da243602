package test

import (
	"github.com/emersion/go-msgauth/authres"

	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"postel/internal/dns"
	"postel/internal/dns/dnstest"
)

// carolsServer starts a second Postel, for example.net, with the account
// carol@example.net; it asks zone; extra is appended to its config.
func carolsServer(t *testing.T, zone *dnstest.Server, extra string) *instance {
	t.Helper()
	rx := newInstance(t, fmt.Sprintf("[dns]\nservers = [%q]\n", zone.Addr)+extra)
	rx.admin("", "domain", "add", "example.net")
	rx.admin("carol's password\n", "user", "add", "carol@example.net", "--password-stdin")
	rx.start()
	return rx
}

// TestTwoInstances: a message submitted to one Postel is delivered by its
// queue, found through DNS, to a second Postel's MX, and read there over
// IMAP with curl; its DKIM signatures verify against the published keys.
func TestTwoInstances(t *testing.T) {
	zone := dnstest.New(t)
	// The receiver checks what arrives on its MX, through the same DNS.
	rx := carolsServer(t, zone, "[inbound]\ncheck_timeout = \"10s\"\n")
	tx := newInstance(t, queueTo(zone, "example.net", rx.ports["smtp"], "poll_interval = \"500ms\"\n"))
	tx.setup()
	out := tx.admin("", "dkim", "gen", "example.org")
	var published int
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "_domainkey.example.org.") {
			zone.Add(line)
			published++
		}
	}
	if published != 2 {
		t.Fatalf("dkim gen printed %d records:\n%s", published, out)
	}
	zone.Add(`_dmarc.example.org. 300 IN TXT "v=DMARC1; p=reject"`)
	tx.start()

	mustRun(t, "swaks", "--server", tx.ports["submission"], "--tls", "--auth", "PLAIN", "--auth-user", "alice@example.org",
		"--auth-password", alicePassword, "--from", "alice@example.org", "--to", "carol@example.net",
		"--header", "Subject: across servers", "--body", "hello carol")

	user := "carol@example.net:carol's password"
	var msg string
	deadline := time.Now().Add(30 * time.Second)
	for {
		list := mustRun(t, "curl", "-sSk", "--user", user, "imaps://"+rx.ports["imaps"]+"/INBOX?ALL")
		if strings.Contains(list, "SEARCH 1") {
			msg = mustRun(t, "curl", "-sSk", "--user", user, "imaps://"+rx.ports["imaps"]+"/INBOX;UID=1")
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not delivered; queue: %+v", tx.queue())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(msg, "Subject: across servers") || !strings.Contains(msg, "hello carol") {
		t.Fatalf("carol read %q", msg)
	}
	// Received by the second server, with TLS (STARTTLS between them).
	if !strings.Contains(msg, "by mx.test.example with ESMTPS") {
		t.Errorf("no TLS on the hop: %q", msg)
	}

	res, err := dns.New(dns.Config{Servers: []string{zone.Addr}, Timeout: 2 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	verifs, err := dkim.VerifyWithOptions(strings.NewReader(msg), &dkim.VerifyOptions{
		LookupTXT: func(domain string) ([]string, error) { return res.LookupTXT(context.Background(), domain) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(verifs) != 2 {
		t.Fatalf("%d DKIM signatures, want 2 (Ed25519 and RSA)", len(verifs))
	}
	for _, v := range verifs {
		if v.Err != nil || v.Domain != "example.org" {
			t.Errorf("DKIM signature of %s: %v", v.Domain, v.Err)
		}
	}
	// The receiver verified them too, and says so.
	ar := headerValues(msg, "Authentication-Results")
	if len(ar) != 1 {
		t.Fatalf("Authentication-Results %q", ar)
	}
	id, results, err := authres.Parse(ar[0])
	if err != nil || id != "mx.test.example" {
		t.Fatalf("authres.Parse(%q) = %q, %v", ar[0], id, err)
	}
	passes := 0
	for _, r := range results {
		if d, ok := r.(*authres.DKIMResult); ok && d.Value == authres.ResultPass && d.Domain == "example.org" {
			passes++
		}
		if d, ok := r.(*authres.DMARCResult); ok && d.Value != authres.ResultPass {
			t.Errorf("dmarc=%s", d.Value)
		}
	}
	if passes != 2 {
		t.Errorf("%d dkim=pass for example.org in %q", passes, ar[0])
	}
	if q := tx.queue(); len(q) != 0 {
		t.Fatalf("still queued: %+v", q)
	}
}
