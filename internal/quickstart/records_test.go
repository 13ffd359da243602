package quickstart

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"

	"postel/internal/config"
	"postel/internal/dkim"
	"postel/internal/web"
)

// testKeys stand for a domain's DKIM records: a short Ed25519 one and an
// RSA one longer than a TXT character-string.
var testKeys = []dkim.Record{
	{Name: "postel-ed25519._domainkey.example.org.", Value: "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="},
	{Name: "postel-rsa._domainkey.example.org.", Value: "v=DKIM1; k=rsa; p=" + strings.Repeat("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA", 8)},
}

// testConfig is a server for example.org on mail.example.org.
func testConfig(change func(c *config.Config)) *config.Config {
	c := config.Default()
	c.Hostname = "mail.example.org"
	change(c)
	if err := c.Validate(); err != nil {
		panic(err)
	}
	return c
}

func TestRecords(t *testing.T) {
	acme := func(c *config.Config) { c.ACME.Enabled = true }
	policyRecord := func(c *config.Config) string { return MTASTSPolicy(c).Record() }
	tests := []struct {
		name   string
		change func(c *config.Config)
		want   []string // "NAME TYPE VALUE"
	}{
		{"ACME with Let's Encrypt, every service", acme, []string{
			"example.org. MX 10 mail.example.org.",
			"mail.example.org. A/AAAA ",
			"example.org. TXT v=spf1 mx -all",
			"postel-ed25519._domainkey.example.org. TXT " + testKeys[0].Value,
			"postel-rsa._domainkey.example.org. TXT " + testKeys[1].Value,
			"_dmarc.example.org. TXT v=DMARC1; p=quarantine; rua=mailto:postmaster@example.org",
			"_mta-sts.example.org. TXT " + policyRecord(testConfig(acme)),
			"mta-sts.example.org. CNAME mail.example.org.",
			"_smtp._tls.example.org. TXT v=TLSRPTv1; rua=mailto:postmaster@example.org",
			"_submissions._tcp.example.org. SRV 0 1 465 mail.example.org.",
			"_submission._tcp.example.org. SRV 10 1 587 mail.example.org.",
			"_imaps._tcp.example.org. SRV 0 1 993 mail.example.org.",
			"_imap._tcp.example.org. SRV 10 1 143 mail.example.org.",
			"_pop3s._tcp.example.org. SRV 0 1 995 mail.example.org.",
			"_pop3._tcp.example.org. SRV 10 1 110 mail.example.org.",
			"autoconfig.example.org. CNAME mail.example.org.",
			"_autodiscover._tcp.example.org. SRV 0 0 443 mail.example.org.",
			`example.org. CAA 0 issue "letsencrypt.org"`,
		}},
		{"no ACME, no plain IMAP or POP3", func(c *config.Config) { c.Listen.IMAP, c.Listen.POP3, c.Listen.POP3S = "", "", "" }, []string{
			"example.org. MX 10 mail.example.org.",
			"mail.example.org. A/AAAA ",
			"example.org. TXT v=spf1 mx -all",
			"postel-ed25519._domainkey.example.org. TXT " + testKeys[0].Value,
			"postel-rsa._domainkey.example.org. TXT " + testKeys[1].Value,
			"_dmarc.example.org. TXT v=DMARC1; p=quarantine; rua=mailto:postmaster@example.org",
			"_mta-sts.example.org. TXT " + policyRecord(testConfig(func(*config.Config) {})),
			"mta-sts.example.org. CNAME mail.example.org.",
			"_smtp._tls.example.org. TXT v=TLSRPTv1; rua=mailto:postmaster@example.org",
			"_submissions._tcp.example.org. SRV 0 1 465 mail.example.org.",
			"_submission._tcp.example.org. SRV 10 1 587 mail.example.org.",
			"_imaps._tcp.example.org. SRV 0 1 993 mail.example.org.",
			"_imap._tcp.example.org. SRV 0 0 0 .",
			"_pop3s._tcp.example.org. SRV 0 0 0 .",
			"_pop3._tcp.example.org. SRV 0 0 0 .",
			"autoconfig.example.org. CNAME mail.example.org.",
			"_autodiscover._tcp.example.org. SRV 0 0 443 mail.example.org.",
			// No CAA: it would only stand in the way of the operator's own CA.
		}},
		{"ACME with a CA of unknown CAA name", func(c *config.Config) {
			c.ACME.Enabled = true
			c.ACME.DirectoryURL = "https://acme.internal.example/directory"
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs := Records(testConfig(tt.change), "example.org", testKeys)
			var got []string
			for _, r := range recs {
				got = append(got, r.Name+" "+r.Type+" "+r.Value)
				if r.Purpose == "" || strings.Contains(r.Purpose, "\n") {
					t.Errorf("%s %s: purpose %q is not one line", r.Name, r.Type, r.Purpose)
				}
			}
			if tt.want == nil {
				if strings.Contains(strings.Join(got, "\n"), " CAA ") {
					t.Errorf("a CAA record for an unknown CA:\n%s", strings.Join(got, "\n"))
				}
				return
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("Records() =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestFormatZone checks that the printed records are zone-file syntax a
// DNS server reads back to the same data, each after its comment.
func TestFormatZone(t *testing.T) {
	c := testConfig(func(c *config.Config) { c.ACME.Enabled = true })
	recs := Records(c, "example.org", testKeys)
	text := FormatZone("example.org", recs)
	var parsed []mdns.RR
	lines := strings.Split(text, "\n")
	for i, line := range lines {
		if line == "" || strings.HasPrefix(line, ";") {
			continue
		}
		if !strings.HasPrefix(lines[i-1], "; ") {
			t.Errorf("record %q has no comment line above it", line)
		}
		rr, err := mdns.NewRR(line)
		if err != nil || rr == nil {
			t.Fatalf("line %q: %v", line, err)
		}
		parsed = append(parsed, rr)
	}
	if len(parsed) != len(recs)-1 { // all but the A/AAAA reminder
		t.Fatalf("%d records parsed, want %d:\n%s", len(parsed), len(recs)-1, text)
	}
	for i, rr := range parsed {
		r := recs[i]
		if i > 0 {
			r = recs[i+1] // after the A/AAAA reminder
		}
		var value string
		switch rr := rr.(type) {
		case *mdns.TXT:
			value = strings.Join(rr.Txt, "")
			for _, s := range rr.Txt {
				if len(s) > 255 {
					t.Errorf("%s: character-string of %d octets", rr.Hdr.Name, len(s))
				}
			}
		case *mdns.MX:
			value = fmt.Sprintf("%d %s", rr.Preference, rr.Mx)
		case *mdns.SRV:
			value = fmt.Sprintf("%d %d %d %s", rr.Priority, rr.Weight, rr.Port, rr.Target)
		case *mdns.CNAME:
			value = rr.Target
		case *mdns.CAA:
			value = fmt.Sprintf("%d %s %q", rr.Flag, rr.Tag, rr.Value)
		}
		if rr.Header().Name != r.Name || mdns.TypeToString[rr.Header().Rrtype] != r.Type || value != r.Value {
			t.Errorf("parsed %s %s %q, want %s %s %q", rr.Header().Name, mdns.TypeToString[rr.Header().Rrtype], value, r.Name, r.Type, r.Value)
		}
	}
	// The DKIM records read as postel dkim gen prints them.
	for _, k := range testKeys {
		if !strings.Contains(text, "\n"+k.Zone()+"\n") && !strings.Contains(text, "\n"+k.Name+` IN TXT "`+k.Value+`"`+"\n") {
			t.Errorf("DKIM record %s not printed", k.Name)
		}
	}
	if !strings.Contains(text, "; mail.example.org. IN A <this server's public IPv4 address>\n") {
		t.Errorf("no reminder of the host's addresses:\n%s", text)
	}
}

// TestMTASTSPolicy checks that the _mta-sts record carries the id of the
// policy internal/web serves, which names the host.
func TestMTASTSPolicy(t *testing.T) {
	c := testConfig(func(*config.Config) {})
	p := MTASTSPolicy(c)
	if want := "version: STSv1\r\nmode: enforce\r\nmx: mail.example.org\r\nmax_age: 604800\r\n"; p.Text() != want {
		t.Errorf("policy %q, want %q", p.Text(), want)
	}
	served := web.Config{Hostname: "MAIL.example.org."}.Policy()
	var rec string
	for _, r := range Records(c, "example.org", nil) {
		if r.Name == "_mta-sts.example.org." {
			rec = r.Value
		}
	}
	if rec != "v=STSv1; id="+served.ID()+";" {
		t.Errorf("_mta-sts record %q, want the id of the served policy %q", rec, served.ID())
	}
	// RFC 8461 §3.1: 1 to 32 letters and digits; another host, another id.
	if !regexp.MustCompile(`^[a-zA-Z0-9]{1,32}$`).MatchString(p.ID()) {
		t.Errorf("id %q is not an sts-id", p.ID())
	}
	other := testConfig(func(c *config.Config) { c.Hostname = "mx2.example.org" })
	if MTASTSPolicy(other).ID() == p.ID() {
		t.Error("policies for different hosts have the same id")
	}
}

func TestIsPublicName(t *testing.T) {
	for name, want := range map[string]bool{
		"mail.example.net":    false,
		"mx.example.test":     false,
		"mail.postel.example": false,
		"nas.home.arpa":       false,
		"mx.corp.internal":    false,
		"printer.local":       false,
		"mail.localhost":      false,
		"mail.postel.dev":     true,
		"MX1.Mailhost.NL.":    true,
		"testing.org":         true,
		"mail":                false,
	} {
		if got := isPublicName(name); got != want {
			t.Errorf("isPublicName(%q) = %v, want %v", name, got, want)
		}
	}
}
