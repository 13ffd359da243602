package dns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"postel/internal/dns/dnstest"
)

// zone is served by the test DNS servers of these tests.
var zone = []string{
	"example.org. 300 IN MX 10 mx1.example.org.",
	"example.org. 300 IN MX 20 mx2.example.org.",
	"example.org. 300 IN TXT \"v=spf1 -all\"",
	"mx1.example.org. 300 IN A 192.0.2.1",
	"mx1.example.org. 300 IN AAAA 2001:db8::1",
	"mx2.example.org. 300 IN A 192.0.2.2",
	"nullmx.example. 300 IN MX 0 .",
	"nomx.example. 300 IN A 192.0.2.9",
	"alias.example. 300 IN CNAME example.org.",
	"split.example. 300 IN TXT \"v=DKIM1; k=ed25519; \" \"p=abc\"",
	"split.example. 300 IN TXT \"second\"",
	"_25._tcp.mx1.example.org. 300 IN TLSA 3 1 1 0a0b0c0d",
	"1.2.0.192.in-addr.arpa. 300 IN PTR mx1.example.org.",
	"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. 300 IN PTR mx1.example.org.",
}

func newClient(t *testing.T, servers ...string) *Client {
	t.Helper()
	c, err := New(Config{Servers: servers, Timeout: 300 * time.Millisecond, Attempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newZone(t *testing.T) *dnstest.Server {
	srv := dnstest.New(t)
	srv.Add(zone...)
	return srv
}

func mxString(mx []*net.MX) string {
	var parts []string
	for _, m := range mx {
		parts = append(parts, fmt.Sprintf("%s/%d", m.Host, m.Pref))
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

func TestLookupMX(t *testing.T) {
	srv := newZone(t)
	c := newClient(t, srv.Addr)
	ctx := context.Background()
	tests := []struct {
		domain  string
		want    string
		wantErr error
	}{
		{"example.org", "mx1.example.org./10 mx2.example.org./20", nil},
		{"EXAMPLE.org.", "mx1.example.org./10 mx2.example.org./20", nil},
		{"alias.example", "mx1.example.org./10 mx2.example.org./20", nil}, // through the CNAME
		{"nullmx.example", "./0", nil},
		{"nomx.example", "", ErrNoData},
		{"_tcp.mx1.example.org", "", ErrNoData}, // empty non-terminal
		{"missing.example", "", ErrNotFound},
	}
	for _, tt := range tests {
		mx, err := c.LookupMX(ctx, tt.domain)
		if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
			t.Errorf("LookupMX(%q) error = %v, want %v", tt.domain, err, tt.wantErr)
		}
		if got := mxString(mx); got != tt.want {
			t.Errorf("LookupMX(%q) = %q, want %q", tt.domain, got, tt.want)
		}
		if tt.wantErr != nil && !IsNotFound(err) {
			t.Errorf("IsNotFound(%v) = false", err)
		}
	}
}

func TestLookupIP(t *testing.T) {
	srv := newZone(t)
	c := newClient(t, srv.Addr)
	ctx := context.Background()
	tests := []struct {
		host    string
		want    []string
		wantErr error
	}{
		{"mx1.example.org", []string{"192.0.2.1", "2001:db8::1"}, nil},
		{"mx2.example.org.", []string{"192.0.2.2"}, nil},
		{"example.org", nil, ErrNoData},
		{"missing.example", nil, ErrNotFound},
	}
	for _, tt := range tests {
		ips, err := c.LookupIP(ctx, tt.host)
		if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
			t.Errorf("LookupIP(%q) error = %v, want %v", tt.host, err, tt.wantErr)
		}
		var got []string
		for _, ip := range ips {
			got = append(got, ip.String())
		}
		slices.Sort(got)
		if !slices.Equal(got, tt.want) {
			t.Errorf("LookupIP(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
}

func TestLookupTXT(t *testing.T) {
	srv := newZone(t)
	c := newClient(t, srv.Addr)
	got, err := c.LookupTXT(context.Background(), "split.example")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	want := []string{"second", "v=DKIM1; k=ed25519; p=abc"}
	if !slices.Equal(got, want) {
		t.Errorf("LookupTXT = %q, want %q", got, want)
	}
	if _, err := c.LookupTXT(context.Background(), "mx2.example.org"); !errors.Is(err, ErrNoData) {
		t.Errorf("LookupTXT without records: %v, want ErrNoData", err)
	}
}

func TestLookupAddr(t *testing.T) {
	srv := newZone(t)
	c := newClient(t, srv.Addr)
	ctx := context.Background()
	for _, ip := range []string{"192.0.2.1", "2001:db8::1"} {
		got, err := c.LookupAddr(ctx, net.ParseIP(ip))
		if err != nil || !slices.Equal(got, []string{"mx1.example.org."}) {
			t.Errorf("LookupAddr(%s) = %q, %v; want mx1.example.org.", ip, got, err)
		}
	}
	if _, err := c.LookupAddr(ctx, net.ParseIP("192.0.2.2")); !errors.Is(err, ErrNotFound) {
		t.Errorf("LookupAddr without PTR: %v, want ErrNotFound", err)
	}
	if _, err := c.LookupAddr(ctx, nil); err == nil {
		t.Error("LookupAddr(nil) succeeded")
	}
}

func TestLookupTLSA(t *testing.T) {
	srv := newZone(t)
	c := newClient(t, srv.Addr)
	ctx := context.Background()
	for _, ad := range []bool{false, true} {
		srv.SetAuthenticated(ad)
		recs, gotAD, err := c.LookupTLSA(ctx, 25, "tcp", "mx1.example.org.")
		if err != nil {
			t.Fatal(err)
		}
		if gotAD != ad {
			t.Errorf("authenticated = %v, want %v", gotAD, ad)
		}
		if len(recs) != 1 || recs[0].Usage != 3 || recs[0].Selector != 1 || recs[0].MatchingType != 1 ||
			!bytes.Equal(recs[0].Data, []byte{0x0a, 0x0b, 0x0c, 0x0d}) {
			t.Errorf("records = %+v", recs)
		}
	}
	if _, _, err := c.LookupTLSA(ctx, 25, "tcp", "mx2.example.org"); !errors.Is(err, ErrNotFound) {
		t.Errorf("TLSA of a name without: %v, want ErrNotFound", err)
	}
	mx, ad, err := c.LookupMXAuthenticated(ctx, "example.org")
	if err != nil || !ad || len(mx) != 2 {
		t.Errorf("LookupMXAuthenticated = %v, %v, %v", mx, ad, err)
	}
	ips, ad, err := c.LookupIPAuthenticated(ctx, "mx1.example.org")
	if err != nil || !ad || len(ips) != 2 {
		t.Errorf("LookupIPAuthenticated = %v, %v, %v", ips, ad, err)
	}
	srv.SetAuthenticated(false)
	if _, ad, err := c.LookupIPAuthenticated(ctx, "mx1.example.org"); err != nil || ad {
		t.Errorf("LookupIPAuthenticated without AD = %v, %v", ad, err)
	}
}

// setupZone holds the records a mail domain publishes for its clients and
// certificate authorities (postel dns check asks for them).
var setupZone = []string{
	"_imaps._tcp.example.org. 300 IN SRV 0 1 993 mail.example.org.",
	"_submission._tcp.example.org. 300 IN SRV 10 1 587 mail.example.org.",
	"_submission._tcp.example.org. 300 IN SRV 20 1 587 backup.example.org.",
	"_pop3._tcp.example.org. 300 IN SRV 0 0 0 .",
	"_submissions._tcp.example.org. 300 IN TXT \"not a service\"",
	"_imap._tcp.example.org. 300 IN CNAME _imaps._tcp.example.org.",
	"autoconfig.example.org. 300 IN CNAME mail.example.org.",
	"mail.example.org. 300 IN A 192.0.2.1",
	"example.org. 300 IN CAA 0 issue \"letsencrypt.org\"",
	"example.org. 300 IN CAA 128 iodef \"mailto:postmaster@example.org\"",
	"alias.example. 300 IN CNAME example.org.",
}

func TestLookupSRV(t *testing.T) {
	srv := dnstest.New(t)
	srv.Add(setupZone...)
	c := newClient(t, srv.Addr)
	ctx := context.Background()
	srvString := func(recs []*net.SRV) string {
		var parts []string
		for _, r := range recs {
			parts = append(parts, fmt.Sprintf("%d %d %d %s", r.Priority, r.Weight, r.Port, r.Target))
		}
		slices.Sort(parts)
		return strings.Join(parts, ", ")
	}
	tests := []struct {
		service, name string
		want          string
		wantErr       error
	}{
		{"imaps", "example.org", "0 1 993 mail.example.org.", nil},
		{"submission", "example.org.", "10 1 587 mail.example.org., 20 1 587 backup.example.org.", nil},
		{"pop3", "example.org", "0 0 0 .", nil},                   // not offered (RFC 2782 ".")
		{"imap", "example.org", "0 1 993 mail.example.org.", nil}, // through a CNAME
		{"pop3s", "example.org", "", ErrNotFound},                 // no such name
		{"submissions", "missing.example", "", ErrNotFound},       // no such domain
	}
	for _, tt := range tests {
		recs, err := c.LookupSRV(ctx, tt.service, "tcp", tt.name)
		if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
			t.Errorf("LookupSRV(%s, %s) error = %v, want %v", tt.service, tt.name, err, tt.wantErr)
		}
		if got := srvString(recs); got != tt.want {
			t.Errorf("LookupSRV(%s, %s) = %q, want %q", tt.service, tt.name, got, tt.want)
		}
	}
}

func TestLookupCNAME(t *testing.T) {
	srv := dnstest.New(t)
	srv.Add(setupZone...)
	c := newClient(t, srv.Addr)
	ctx := context.Background()
	tests := []struct {
		name, want string
		wantErr    error
	}{
		{"autoconfig.example.org", "mail.example.org.", nil},
		{"ALIAS.example.", "example.org.", nil}, // not followed further
		{"mail.example.org", "", ErrNoData},     // an address, no alias
		{"autodiscover.example.org", "", ErrNotFound},
	}
	for _, tt := range tests {
		got, err := c.LookupCNAME(ctx, tt.name)
		if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
			t.Errorf("LookupCNAME(%s) error = %v, want %v", tt.name, err, tt.wantErr)
		}
		if got != tt.want {
			t.Errorf("LookupCNAME(%s) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestLookupCAA(t *testing.T) {
	srv := dnstest.New(t)
	srv.Add(setupZone...)
	c := newClient(t, srv.Addr)
	ctx := context.Background()
	for _, name := range []string{"example.org", "alias.example"} { // the second through its CNAME
		recs, err := c.LookupCAA(ctx, name)
		if err != nil {
			t.Fatalf("LookupCAA(%s): %v", name, err)
		}
		var got []string
		for _, r := range recs {
			got = append(got, fmt.Sprintf("%d %s %s", r.Flag, r.Tag, r.Value))
		}
		slices.Sort(got)
		if want := []string{"0 issue letsencrypt.org", "128 iodef mailto:postmaster@example.org"}; !slices.Equal(got, want) {
			t.Errorf("LookupCAA(%s) = %q, want %q", name, got, want)
		}
	}
	// CAA sits at the domain; its subdomains have none of their own.
	if _, err := c.LookupCAA(ctx, "mail.example.org"); !errors.Is(err, ErrNoData) {
		t.Errorf("LookupCAA of a name without: %v, want ErrNoData", err)
	}
	if _, err := c.LookupCAA(ctx, "missing.example"); !errors.Is(err, ErrNotFound) {
		t.Errorf("LookupCAA of a missing name: %v, want ErrNotFound", err)
	}
}

// A server failure is temporary, and the next server is asked.
func TestServerFailure(t *testing.T) {
	bad := newZone(t)
	bad.SetRcode("example.org", mdns.RcodeServerFailure)
	c := newClient(t, bad.Addr)
	_, err := c.LookupMX(context.Background(), "example.org")
	if err == nil || IsNotFound(err) {
		t.Fatalf("SERVFAIL gave %v, want a temporary error", err)
	}
	if !strings.Contains(err.Error(), "SERVFAIL") {
		t.Errorf("error %q does not name SERVFAIL", err)
	}
	if n := bad.Queries(); n != 2 {
		t.Errorf("%d queries, want 2 (two attempts)", n)
	}

	good := newZone(t)
	c = newClient(t, bad.Addr, good.Addr)
	mx, err := c.LookupMX(context.Background(), "example.org")
	if err != nil || len(mx) != 2 {
		t.Fatalf("with a good second server: %v, %v", mx, err)
	}
}

func TestTruncatedRetriesOverTCP(t *testing.T) {
	srv := newZone(t)
	srv.SetTruncate(true)
	c := newClient(t, srv.Addr)
	mx, err := c.LookupMX(context.Background(), "example.org")
	if err != nil || len(mx) != 2 {
		t.Fatalf("LookupMX = %v, %v", mx, err)
	}
	if n := srv.Queries(); n != 2 {
		t.Errorf("%d queries, want 2 (UDP, then TCP)", n)
	}
}

func TestLostQueryRetried(t *testing.T) {
	srv := newZone(t)
	srv.Drop(1)
	c := newClient(t, srv.Addr)
	mx, err := c.LookupMX(context.Background(), "example.org")
	if err != nil || len(mx) != 2 {
		t.Fatalf("LookupMX = %v, %v", mx, err)
	}

	// A server that never answers: the lookup fails after the attempts,
	// within about attempts × timeout.
	srv.Drop(100)
	start := time.Now()
	_, err = c.LookupMX(context.Background(), "example.org")
	if err == nil || IsNotFound(err) {
		t.Fatalf("silent server gave %v, want a temporary error", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("lookup took %v", d)
	}
}

func TestContextCanceled(t *testing.T) {
	srv := newZone(t)
	srv.Drop(100)
	c := newClient(t, srv.Addr)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := c.LookupTXT(ctx, "example.org"); err == nil {
		t.Fatal("no error")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("canceled lookup took %v", d)
	}
}

func TestBadNames(t *testing.T) {
	c := newClient(t, "127.0.0.1:1")
	for _, name := range []string{"", ".", "a..b", "exa mple.org", "bücher.example", strings.Repeat("a", 64) + ".org",
		strings.Repeat("abcdefghi.", 26) + "org"} {
		if _, err := c.LookupMX(context.Background(), name); err == nil || IsNotFound(err) || !strings.Contains(err.Error(), "dns: MX") {
			t.Errorf("LookupMX(%q) = %v, want a name error", name, err)
		}
	}
}

func TestServerAddr(t *testing.T) {
	tests := []struct{ in, want string }{
		{"127.0.0.1", "127.0.0.1:53"},
		{"127.0.0.1:5353", "127.0.0.1:5353"},
		{"::1", "[::1]:53"},
		{"[::1]:54", "[::1]:54"},
		{"resolver.example", "resolver.example:53"},
		{"", ""},
		{":53", ""},
		{"[::1]", ""},
	}
	for _, tt := range tests {
		got, err := serverAddr(tt.in, "53")
		if (err != nil) != (tt.want == "") || got != tt.want {
			t.Errorf("serverAddr(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// FuzzAnswers feeds arbitrary DNS messages to the answer extraction (CNAME
// chains included): it must not panic or loop.
func FuzzAnswers(f *testing.F) {
	m := new(mdns.Msg)
	m.SetQuestion("a.example.", mdns.TypeMX)
	for _, s := range []string{"a.example. 1 IN CNAME b.example.", "b.example. 1 IN CNAME a.example.", "b.example. 1 IN MX 1 mx.example."} {
		rr, _ := mdns.NewRR(s)
		m.Answer = append(m.Answer, rr)
	}
	wire, err := m.Pack()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(wire)
	f.Add([]byte{0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		var m mdns.Msg
		if m.Unpack(data) != nil || len(m.Question) == 0 {
			return
		}
		q := m.Question[0]
		for _, rr := range answers(&m, q.Name, q.Qtype) {
			if rr.Header().Rrtype != q.Qtype {
				t.Fatalf("answer of type %d for a question of type %d", rr.Header().Rrtype, q.Qtype)
			}
		}
	})
}
