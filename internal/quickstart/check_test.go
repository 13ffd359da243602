package quickstart

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"postel/internal/config"
	"postel/internal/dns"
	"postel/internal/dns/dnstest"
	"postel/internal/web"
)

// publishAll starts a DNS server with every record FormatZone prints for
// c, and the host's address.
func publishAll(t *testing.T, c *config.Config) *dnstest.Server {
	t.Helper()
	srv := dnstest.New(t)
	for _, line := range strings.Split(FormatZone("example.org", Records(c, "example.org", testKeys)), "\n") {
		if line != "" && !strings.HasPrefix(line, ";") {
			srv.Add(line)
		}
	}
	srv.Add("mail.example.org. 300 IN A 192.0.2.1", "mail.example.org. 300 IN AAAA 2001:db8::1")
	return srv
}

// replace swaps the records of name and type for others.
func replace(srv *dnstest.Server, name string, rrtype uint16, records ...string) {
	srv.Remove(name, rrtype)
	srv.Add(records...)
}

func TestCheckDNS(t *testing.T) {
	c := testConfig(func(c *config.Config) { c.ACME.Enabled = true })
	oldID := web.STSPolicy{Mode: "testing", MX: []string{"mail.example.org"}, MaxAge: 24 * time.Hour}.ID()
	tests := []struct {
		name string
		edit func(s *dnstest.Server)
		want map[string]Status // "TYPE NAME" of every record not OK
		note map[string]string // part of the note of an OK record accepted by meaning
	}{
		{"all published", func(*dnstest.Server) {}, nil, nil},
		{"DMARC and one SRV missing", func(s *dnstest.Server) {
			s.Remove("_dmarc.example.org", mdns.TypeNone)
			s.Remove("_imaps._tcp.example.org", mdns.TypeNone)
		}, map[string]Status{"TXT _dmarc.example.org.": Missing, "SRV _imaps._tcp.example.org.": Missing}, nil},

		// SPF, by what it does for the host and for others.
		{"SPF naming the address", func(s *dnstest.Server) {
			replace(s, "example.org", mdns.TypeTXT, `example.org. IN TXT "v=spf1 ip4:192.0.2.1 ip6:2001:db8::/64 -all"`)
		}, nil, map[string]string{"TXT example.org.": "means the same here"}},
		{"SPF through an include, softfail", func(s *dnstest.Server) {
			replace(s, "example.org", mdns.TypeTXT, `example.org. IN TXT "v=spf1 include:_spf.example.org ~all"`,
				`_spf.example.org. IN TXT "v=spf1 a:mail.example.org -all"`)
		}, nil, map[string]string{"TXT example.org.": "means the same here"}},
		{"SPF passing anyone", func(s *dnstest.Server) {
			replace(s, "example.org", mdns.TypeTXT, `example.org. IN TXT "v=spf1 +all"`)
		}, map[string]Status{"TXT example.org.": Wrong}, nil},
		{"SPF neutral for others", func(s *dnstest.Server) {
			replace(s, "example.org", mdns.TypeTXT, `example.org. IN TXT "v=spf1 mx ?all"`)
		}, map[string]Status{"TXT example.org.": Wrong}, nil},
		{"SPF without the host", func(s *dnstest.Server) {
			replace(s, "example.org", mdns.TypeTXT, `example.org. IN TXT "v=spf1 ip4:198.51.100.7 -all"`)
		}, map[string]Status{"TXT example.org.": Wrong}, nil},
		{"two SPF records", func(s *dnstest.Server) {
			s.Add(`example.org. IN TXT "v=spf1 a -all"`)
		}, map[string]Status{"TXT example.org.": Wrong}, nil},
		{"other TXT records beside SPF", func(s *dnstest.Server) {
			s.Add(`example.org. IN TXT "google-site-verification=abc"`)
		}, nil, nil},

		// DKIM keys.
		{"another RSA key", func(s *dnstest.Server) {
			replace(s, "postel-rsa._domainkey.example.org", mdns.TypeTXT, `postel-rsa._domainkey.example.org. IN TXT "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAzzz"`)
		}, map[string]Status{"TXT postel-rsa._domainkey.example.org.": Wrong}, nil},
		{"revoked key", func(s *dnstest.Server) {
			replace(s, "postel-ed25519._domainkey.example.org", mdns.TypeTXT, `postel-ed25519._domainkey.example.org. IN TXT "v=DKIM1; k=ed25519; p="`)
		}, map[string]Status{"TXT postel-ed25519._domainkey.example.org.": Wrong}, nil},
		{"key folded with white space", func(s *dnstest.Server) {
			replace(s, "postel-ed25519._domainkey.example.org", mdns.TypeTXT,
				`postel-ed25519._domainkey.example.org. IN TXT "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7Ty WQHOg7hcvPapiMlrwIaaPcHURo="`)
		}, nil, nil},

		// DMARC, MTA-STS, TLS-RPT.
		{"DMARC p=none", func(s *dnstest.Server) {
			replace(s, "_dmarc.example.org", mdns.TypeTXT, `_dmarc.example.org. IN TXT "v=DMARC1; p=none; rua=mailto:postmaster@example.org"`)
		}, map[string]Status{"TXT _dmarc.example.org.": Wrong}, nil},
		{"DMARC p=reject, no reports", func(s *dnstest.Server) {
			replace(s, "_dmarc.example.org", mdns.TypeTXT, `_dmarc.example.org. IN TXT "v=DMARC1;p=reject"`)
		}, nil, map[string]string{"TXT _dmarc.example.org.": "no rua="}},
		{"DMARC lookup failing", func(s *dnstest.Server) {
			s.SetRcode("_dmarc.example.org", mdns.RcodeServerFailure)
		}, map[string]Status{"TXT _dmarc.example.org.": Unknown}, nil},
		{"MTA-STS id of an old policy", func(s *dnstest.Server) {
			replace(s, "_mta-sts.example.org", mdns.TypeTXT, `_mta-sts.example.org. IN TXT "v=STSv1; id=`+oldID+`"`)
		}, map[string]Status{"TXT _mta-sts.example.org.": Wrong}, nil},
		{"TLS-RPT without rua", func(s *dnstest.Server) {
			replace(s, "_smtp._tls.example.org", mdns.TypeTXT, `_smtp._tls.example.org. IN TXT "v=TLSRPTv1"`)
		}, map[string]Status{"TXT _smtp._tls.example.org.": Wrong}, nil},

		// Where mail and clients go. Without the host in the MX, "v=spf1
		// mx -all" no longer lets it send either.
		{"MX elsewhere", func(s *dnstest.Server) {
			replace(s, "example.org", mdns.TypeMX, "example.org. IN MX 10 mx.provider.example.")
		}, map[string]Status{"MX example.org.": Wrong, "TXT example.org.": Wrong}, nil},
		{"null MX", func(s *dnstest.Server) {
			replace(s, "example.org", mdns.TypeMX, "example.org. IN MX 0 .")
		}, map[string]Status{"MX example.org.": Wrong, "TXT example.org.": Wrong}, nil},
		{"backup MX beside", func(s *dnstest.Server) {
			s.Add("example.org. IN MX 20 backup.provider.example.")
		}, nil, nil},
		{"host on a private address", func(s *dnstest.Server) {
			s.Remove("mail.example.org", mdns.TypeNone)
			s.Add("mail.example.org. IN A 10.0.0.25")
		}, map[string]Status{"A/AAAA mail.example.org.": Wrong}, nil},
		{"host without an address", func(s *dnstest.Server) {
			s.Remove("mail.example.org", mdns.TypeNone)
		}, map[string]Status{"A/AAAA mail.example.org.": Missing, "TXT example.org.": Unknown}, nil},
		{"SRV to the wrong port", func(s *dnstest.Server) {
			replace(s, "_submissions._tcp.example.org", mdns.TypeSRV, "_submissions._tcp.example.org. IN SRV 0 1 587 mail.example.org.")
		}, map[string]Status{"SRV _submissions._tcp.example.org.": Wrong}, nil},
		{"SRV to another name of the host", func(s *dnstest.Server) {
			replace(s, "_imaps._tcp.example.org", mdns.TypeSRV, "_imaps._tcp.example.org. IN SRV 5 0 993 imap.example.org.")
			s.Add("imap.example.org. IN A 192.0.2.1")
		}, nil, map[string]string{"SRV _imaps._tcp.example.org.": "has the addresses of mail.example.org"}},
		{"SRV to another host", func(s *dnstest.Server) {
			replace(s, "_pop3._tcp.example.org", mdns.TypeSRV, "_pop3._tcp.example.org. IN SRV 10 1 110 pop.provider.example.")
			s.Add("pop.provider.example. IN A 198.51.100.110")
		}, map[string]Status{"SRV _pop3._tcp.example.org.": Wrong}, nil},
		{"autoconfig by address", func(s *dnstest.Server) {
			replace(s, "autoconfig.example.org", mdns.TypeCNAME, "autoconfig.example.org. IN A 192.0.2.1")
		}, nil, map[string]string{"CNAME autoconfig.example.org.": "address records instead of the alias"}},
		{"autodiscover elsewhere", func(s *dnstest.Server) {
			replace(s, "_autodiscover._tcp.example.org", mdns.TypeSRV, "_autodiscover._tcp.example.org. IN SRV 0 0 443 autodiscover.outlook.example.")
		}, map[string]Status{"SRV _autodiscover._tcp.example.org.": Wrong}, nil},

		// CAA, climbing to the parents.
		{"CAA for another CA", func(s *dnstest.Server) {
			replace(s, "example.org", mdns.TypeCAA, `example.org. IN CAA 0 issue "pki.goog"`)
		}, map[string]Status{"CAA example.org.": Wrong}, nil},
		{"CAA inherited", func(s *dnstest.Server) {
			s.Remove("example.org", mdns.TypeCAA)
			s.Add(`org. IN CAA 0 issue "letsencrypt.org; accounturi=https://acme.example/acct/1"`)
		}, nil, map[string]string{"CAA example.org.": "found at org"}},
		{"no CAA", func(s *dnstest.Server) {
			s.Remove("example.org", mdns.TypeCAA)
		}, map[string]Status{"CAA example.org.": Missing}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := publishAll(t, c)
			tt.edit(srv)
			r, err := dns.New(dns.Config{Servers: []string{srv.Addr}, Timeout: 2 * time.Second, Attempts: 1})
			if err != nil {
				t.Fatal(err)
			}
			findings := CheckDNS(context.Background(), r, c, "example.org", testKeys)
			if len(findings) != len(Records(c, "example.org", testKeys)) {
				t.Fatalf("%d findings for %d records", len(findings), len(Records(c, "example.org", testKeys)))
			}
			got := map[string]Status{}
			var report strings.Builder
			Report(&report, findings)
			for _, f := range findings {
				key := f.Type + " " + f.Name
				if f.Status != OK {
					got[key] = f.Status
				}
				if want, ok := tt.note[key]; ok && (f.Status != OK || !strings.Contains(f.Note, want)) {
					t.Errorf("%s: %s with note %q, want OK with a note containing %q", key, f.Status, f.Note, want)
				}
			}
			if !maps.Equal(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
				t.Errorf("not OK: %v\nwant %v\n%s", got, tt.want, report.String())
			}
		})
	}
}

func TestReport(t *testing.T) {
	c := testConfig(func(*config.Config) {})
	findings := []Finding{
		{Record: Records(c, "example.org", nil)[0], Status: OK, Found: []string{"10 mail.example.org."}},
		{Record: Records(c, "example.org", nil)[3], Status: Missing},
		{Record: Records(c, "example.org", nil)[2], Status: Wrong, Found: []string{"v=spf1 +all"}, Note: "gives pass for any other host"},
	}
	var b strings.Builder
	if n := Report(&b, findings); n != 2 {
		t.Errorf("Report() = %d, want 2", n)
	}
	want := `OK       MX      example.org.
MISSING  TXT     _dmarc.example.org.
         publish: _dmarc.example.org. IN TXT "v=DMARC1; p=quarantine; rua=mailto:postmaster@example.org"
         purpose: ` + findings[1].Purpose + `
WRONG    TXT     example.org.
         found:   "v=spf1 +all"
         note:    gives pass for any other host
         publish: example.org. IN TXT "v=spf1 mx -all"
         purpose: ` + findings[2].Purpose + `

3 records: 1 OK, 1 missing, 1 wrong, 0 unknown
`
	if b.String() != want {
		t.Errorf("Report() wrote\n%s\nwant\n%s", b.String(), want)
	}
	if slices.ContainsFunc(findings, func(f Finding) bool { return f.Purpose == "" }) {
		t.Error("a record without purpose")
	}
}
