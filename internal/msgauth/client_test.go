package msgauth

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"
)

func TestIPRev(t *testing.T) {
	e := newEnv(t, nil)
	e.srv.Add(
		"14.2.0.192.in-addr.arpa. 300 IN PTR flaky.example.",
		"flaky.example. 300 IN A 192.0.2.14",
		"0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. 300 IN PTR mail6.sender.example.",
		"mail6.sender.example. 300 IN AAAA 2001:db8::10",
	)
	e.srv.SetRcode("13.2.0.192.in-addr.arpa", mdns.RcodeServerFailure)
	e.srv.SetRcode("flaky.example", mdns.RcodeServerFailure)
	// Twelve PTR names, only the last two confirm: beyond the bound of 10.
	for i := 1; i <= 12; i++ {
		e.srv.Add(fmt.Sprintf("15.2.0.192.in-addr.arpa. 300 IN PTR n%d.many.example.", i))
		addr := "198.51.100.1"
		if i > 10 {
			addr = "192.0.2.15"
		}
		e.srv.Add(fmt.Sprintf("n%d.many.example. 300 IN A %s", i, addr))
	}
	tests := []struct {
		ip        string
		want      string
		wantNames []string
	}{
		{"192.0.2.10", "pass", []string{"mail.sender.example"}},
		{"::ffff:192.0.2.10", "pass", []string{"mail.sender.example"}},
		{"2001:db8::10", "pass", []string{"mail6.sender.example"}},
		{"192.0.2.11", "fail", []string{"liar.example"}},
		{"192.0.2.12", "permerror", nil},
		{"192.0.2.13", "temperror", nil},
		{"192.0.2.14", "temperror", []string{"flaky.example"}},
		{"192.0.2.15", "fail", nil},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			ctx := context.Background()
			cl := e.c.CheckClient(ctx, netip.MustParseAddr(tt.ip), clientHELO)
			if cl.IPRev.Result != tt.want || (tt.wantNames != nil && !slices.Equal(cl.IPRev.Names, tt.wantNames)) {
				t.Errorf("iprev = %+v, want %s %v", cl.IPRev, tt.want, tt.wantNames)
			}
			if tt.ip == "192.0.2.15" && len(cl.IPRev.Names) != maxPTRNames {
				t.Errorf("%d PTR names looked at, want %d", len(cl.IPRev.Names), maxPTRNames)
			}
			r := e.c.CheckMessage(ctx, cl, "a@pass.example", strings.NewReader(plain("a@pass.example")))
			p := parseHeader(t, r)
			ip := p.iprev(t)
			want := netip.MustParseAddr(tt.ip).Unmap().String()
			if string(ip.Value) != tt.want || p.own("iprev")[0].prop("policy.iprev") != want {
				t.Errorf("header iprev=%s policy.iprev=%q, want %s %s", ip.Value, ip.IP, tt.want, want)
			}
			// Recorded, never enforced.
			wantVerdict(t, r, Accept, 0, "")
		})
	}
}

func TestHELO(t *testing.T) {
	e := newEnv(t, nil)
	e.srv.SetRcode("flaky.example", mdns.RcodeServerFailure)
	tests := []struct {
		helo, want, wantName string
	}{
		{"mail.sender.example", "pass", "mail.sender.example"},
		{"MAIL.Sender.Example.", "pass", "mail.sender.example"},
		{"liar.example", "fail", "liar.example"},
		{"missing.example", "fail", "missing.example"},
		{"flaky.example", "temperror", "flaky.example"},
		{"[192.0.2.10]", "pass", "[192.0.2.10]"},
		{"[192.0.2.99]", "fail", "[192.0.2.99]"},
		{"[IPv6:2001:db8::1]", "fail", "[IPv6:2001:db8::1]"},
		{"[nonsense]", "permerror", "[nonsense]"},
		{"not a (domain)", "permerror", "not a (domain)"},
		{"", "none", ""},
	}
	for _, tt := range tests {
		cl := e.c.CheckClient(context.Background(), netip.MustParseAddr(clientIP), tt.helo)
		if cl.HELO.Result != tt.want || cl.HELO.Name != tt.wantName {
			t.Errorf("HELO %q: %+v, want %s %q", tt.helo, cl.HELO, tt.want, tt.wantName)
		}
		r := e.c.CheckMessage(context.Background(), cl, "a@pass.example", strings.NewReader(plain("a@pass.example")))
		p := parseHeader(t, r)
		if tt.want != "none" && !strings.Contains(p.comments(), "helo ") {
			t.Errorf("HELO %q not recorded: %q", tt.helo, p.comments())
		}
		wantVerdict(t, r, Accept, 0, "")
	}
}

func TestDNSBL(t *testing.T) {
	tests := []struct {
		name      string
		ip        string
		dnsbl     []ListZone
		dnswl     []string
		listed    []string
		allowed   []string
		errors    []string
		action    Action
		code      int
		reasonHas string
	}{
		{name: "listed, reject", ip: clientIP, dnsbl: []ListZone{{"bl.example", "reject"}},
			listed: []string{"bl.example"}, action: Reject, code: 554, reasonHas: "listed by bl.example"},
		{name: "listed, junk", ip: clientIP, dnsbl: []ListZone{{"junk.example", "junk"}},
			listed: []string{"junk.example"}, action: Junk, reasonHas: "listed by junk.example"},
		{name: "reject wins over junk", ip: clientIP, dnsbl: []ListZone{{"junk.example", "junk"}, {"bl.example", "reject"}},
			listed: []string{"junk.example", "bl.example"}, action: Reject, code: 554, reasonHas: "bl.example"},
		{name: "allow list exempts", ip: clientIP, dnsbl: []ListZone{{"bl.example", "reject"}}, dnswl: []string{"wl.example"},
			listed: []string{"bl.example"}, allowed: []string{"wl.example"}, action: Accept},
		{name: "not listed", ip: "192.0.2.11", dnsbl: []ListZone{{"bl.example", "reject"}}, dnswl: []string{"wl.example"},
			action: Accept},
		{name: "refused query is no listing", ip: clientIP, dnsbl: []ListZone{{"refusing.example", "reject"}},
			errors: []string{"refusing.example"}, action: Accept},
		{name: "lookup failure is no listing", ip: clientIP, dnsbl: []ListZone{{"flaky.example", "reject"}},
			errors: []string{"flaky.example"}, action: Accept},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.DNSBL, c.DNSWL = tt.dnsbl, tt.dnswl })
			e.srv.SetRcode("10.2.0.192.flaky.example", mdns.RcodeServerFailure)
			ctx := context.Background()
			cl := e.c.CheckClient(ctx, netip.MustParseAddr(tt.ip), clientHELO)
			var listed []string
			for _, l := range cl.DNSBL.Listed {
				listed = append(listed, l.Zone)
			}
			if !slices.Equal(listed, tt.listed) || !slices.Equal(cl.DNSBL.Allowed, tt.allowed) || !slices.Equal(cl.DNSBL.Errors, tt.errors) {
				t.Errorf("DNSBL = %+v", cl.DNSBL)
			}
			r := e.c.CheckMessage(ctx, cl, "a@pass.example", strings.NewReader(plain("a@pass.example")))
			wantVerdict(t, r, tt.action, tt.code, tt.reasonHas)
			comments := parseHeader(t, r).comments()
			for _, z := range tt.listed {
				if !strings.Contains(comments, "dnsbl "+z+" listed 127.0.0.") {
					t.Errorf("listing by %s not in %q", z, comments)
				}
			}
			for _, z := range tt.errors {
				if !strings.Contains(comments, z+" temperror") {
					t.Errorf("error of %s not in %q", z, comments)
				}
			}
		})
	}
}

// TestDNSBLAfterDMARC checks the rule order: DMARC's quarantine comes
// before a DNSBL's reject.
func TestDNSBLAfterDMARC(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.DNSBL = []ListZone{{"bl.example", "reject"}} })
	r := e.check(t, "a@fail.example", plain("a@quarantine.example"))
	wantVerdict(t, r, Junk, 0, "DMARC policy of quarantine.example")
	r = e.check(t, "a@pass.example", plain("a@pass.example"))
	wantVerdict(t, r, Reject, 554, "bl.example")
}

func TestReverseName(t *testing.T) {
	for ip, want := range map[string]string{
		"192.0.2.10":  "10.2.0.192.",
		"127.0.0.2":   "2.0.0.127.",
		"2001:db8::1": "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.",
	} {
		if got := reverseName(netip.MustParseAddr(ip)); got != want {
			t.Errorf("reverseName(%s) = %q, want %q", ip, got, want)
		}
	}
}

func TestNew(t *testing.T) {
	e := newEnv(t, nil)
	good := Config{AuthServID: "mx.example.org", Resolver: e.c.res}
	many := make([]ListZone, MaxListZones+1)
	for i := range many {
		many[i] = ListZone{fmt.Sprintf("z%d.example", i), "junk"}
	}
	for name, mutate := range map[string]func(*Config){
		"no resolver":        func(c *Config) { c.Resolver = nil },
		"no authserv-id":     func(c *Config) { c.AuthServID = "" },
		"authserv-id spaces": func(c *Config) { c.AuthServID = "mx example" },
		"authserv-id ;":      func(c *Config) { c.AuthServID = "mx;example" },
		"bad zone":           func(c *Config) { c.DNSBL = []ListZone{{"bad zone", "reject"}} },
		"bad action":         func(c *Config) { c.DNSBL = []ListZone{{"bl.example", "drop"}} },
		"too many zones":     func(c *Config) { c.DNSBL = many },
		"bad allow list":     func(c *Config) { c.DNSWL = []string{""} },
		"bad trusted sealer": func(c *Config) { c.TrustedARCSealers = []string{"a..b"} },
	} {
		cfg := good
		mutate(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
	c, err := New(good)
	if err != nil {
		t.Fatal(err)
	}
	if c.timeout != defaultTimeout || c.maxSigs != defaultMaxSignatures {
		t.Errorf("defaults: timeout %v, max signatures %d", c.timeout, c.maxSigs)
	}
	if Accept.String() != "accept" || TempFail.String() != "tempfail" || Action(9).String() != "Action(9)" {
		t.Error("Action.String")
	}
}

// TestNoClient checks CheckMessage without CheckClient.
func TestNoClient(t *testing.T) {
	e := newEnv(t, nil)
	r := e.c.CheckMessage(context.Background(), nil, "a@pass.example", strings.NewReader(plain("a@reject.example")))
	if r.SPF.Result != "permerror" || r.IPRev.Result != "permerror" {
		t.Errorf("SPF %+v, iprev %+v", r.SPF, r.IPRev)
	}
	parseHeader(t, r)
	wantVerdict(t, r, Reject, 550, "reject.example")
}
