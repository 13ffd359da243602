package queue

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"postel/internal/certs"
)

func TestParseSTSRecord(t *testing.T) {
	tests := []struct {
		in, id string
	}{
		{"v=STSv1; id=20160831085700Z;", "20160831085700Z"},
		{"v=STSv1;id=abc", "abc"},
		{"v=STSv1 ; id=abc ; ext-1=val.ue", "abc"},
		{"v=STSv1; ext=x; id=abc; id=def", "abc"},
		{"v=STSv1; id=" + strings.Repeat("a", 32), strings.Repeat("a", 32)},
		{"v=STSv1; id=" + strings.Repeat("a", 33), ""},
		{"v=STSv1;", ""},
		{"v=STSv1; id=a-b", ""},  // id is alphanumeric
		{"v=STSv1; id=", ""},     // empty
		{" v=STSv1; id=abc", ""}, // must start with v=STSv1
		{"v=STSv2; id=abc", ""},  // other version
		{"v=STSv1x; id=abc", ""}, // not the version field
		{"v=STSv1; id=abc; =x", ""},
		{"v=STSv1; id=abc; k=a=b", ""},
		{"v=STSv1; id=abc; _k=v", ""}, // ext names start alphanumeric
		{"id=abc; v=STSv1", ""},
	}
	for _, tt := range tests {
		id, err := parseSTSRecord(tt.in)
		if id != tt.id || (err == nil) != (tt.id != "") {
			t.Errorf("parseSTSRecord(%q) = %q, %v; want %q", tt.in, id, err, tt.id)
		}
	}
}

func TestParsePolicy(t *testing.T) {
	tests := []struct {
		name, in string
		want     string // mode/maxAge/mx, or "" for an error
	}{
		{"full", "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n",
			"enforce 168h0m0s [mail.example.com *.example.net]"},
		{"LF and spaces", "version:STSv1\nmode:   testing\nmx: MX.Example.COM.\nmax_age: 86400\n", "testing 24h0m0s [mx.example.com]"},
		{"unknown keys", "version: STSv1\nfoo: bar\nmode: enforce\nmx: a.example\nmax_age: 1\n", "enforce 1s [a.example]"},
		{"first wins", "version: STSv1\nmode: testing\nmode: enforce\nmx: a.example\nmax_age: 1\n", "testing 1s [a.example]"},
		{"none without mx", "version: STSv1\nmode: none\nmax_age: 0\n", "none 0s []"},
		{"no version", "mode: enforce\nmx: a.example\nmax_age: 1\n", ""},
		{"bad version", "version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n", ""},
		{"no mode", "version: STSv1\nmx: a.example\nmax_age: 1\n", ""},
		{"bad mode", "version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n", ""},
		{"no mx", "version: STSv1\nmode: enforce\nmax_age: 1\n", ""},
		{"no max_age", "version: STSv1\nmode: enforce\nmx: a.example\n", ""},
		{"max_age too big", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557601\n", ""},
		{"max_age sign", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: +5\n", ""},
		{"bad mx", "version: STSv1\nmode: enforce\nmx: a..example\nmax_age: 1\n", ""},
		{"inner wildcard", "version: STSv1\nmode: enforce\nmx: a.*.example\nmax_age: 1\n", ""},
		{"no colon", "version: STSv1\nmode enforce\n", ""},
		{"too long", "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\n" + strings.Repeat("x: y\n", maxPolicyBytes/5), ""},
	}
	for _, tt := range tests {
		p, err := parsePolicy([]byte(tt.in))
		got := ""
		if err == nil {
			got = p.mode + " " + p.maxAge.String() + " [" + strings.Join(p.mx, " ") + "]"
		}
		if got != tt.want {
			t.Errorf("%s: parsePolicy = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
}

func TestPolicyMatches(t *testing.T) {
	p := &stsPolicy{mx: []string{"mail.example.com", "*.example.net"}}
	for host, want := range map[string]bool{
		"mail.example.com":   true,
		"MAIL.example.com.":  true,
		"mx1.example.net":    true,
		"example.net":        false, // the wildcard needs a label
		"a.b.example.net":    false, // exactly one label
		"mail.example.com.x": false,
		"other.example.com":  false,
	} {
		if got := p.matches(host); got != want {
			t.Errorf("matches(%q) = %v, want %v", host, got, want)
		}
	}
}

// stsServer serves MTA-STS policies over HTTPS for any mta-sts.DOMAIN.
type stsServer struct {
	client *http.Client
	mu     sync.Mutex
	policy string
	status int
	fetch  int
}

func newSTSServer(t *testing.T, e *env) *stsServer {
	s := &stsServer{status: http.StatusOK}
	cert := mustCert(t, "mta-sts.example.net")
	e.trust(cert)
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.fetch++
		switch {
		case r.URL.Path == "/elsewhere":
			w.Header().Set("Content-Type", "text/plain")
			w.Write([]byte(s.policy))
		case r.URL.Path != "/.well-known/mta-sts.txt" || r.Host != "mta-sts.example.net":
			http.NotFound(w, r)
		case s.status == http.StatusFound:
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		case s.status != http.StatusOK:
			w.WriteHeader(s.status)
		default:
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Write([]byte(s.policy))
		}
	}))
	ts.TLS = certs.ServerTLSConfig(cert)
	ts.StartTLS()
	t.Cleanup(ts.Close)
	addr := ts.Listener.Addr().String()
	s.client = &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: e.roots},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}}
	return s
}

func (s *stsServer) set(status int, policy string) {
	s.mu.Lock()
	s.status, s.policy = status, policy
	s.mu.Unlock()
}

func (s *stsServer) fetches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetch
}

const enforcePolicy = "version: STSv1\r\nmode: enforce\r\nmx: *.example.net\r\nmax_age: 86400\r\n"

// MTA-STS enforce makes certificate verification fatal (deferral, never
// delivery in the clear or to an unverified host); testing only logs.
func TestMTASTS(t *testing.T) {
	tests := []struct {
		name      string
		policy    string
		status    int
		trusted   bool   // the MX certificate verifies
		mx        string // MX host name
		delivered bool
		reply     string // last reply when not delivered
	}{
		{"enforce, bad certificate", enforcePolicy, 200, false, "mx.example.net", false, "4.7.5 TLS with mx.example.net failed"},
		{"enforce, good certificate", enforcePolicy, 200, true, "mx.example.net", true, ""},
		{"enforce, MX not in policy", enforcePolicy, 200, true, "mx.example.org", false, "not an MX host allowed by the MTA-STS policy"},
		{"testing, bad certificate", strings.Replace(enforcePolicy, "enforce", "testing", 1), 200, false, "mx.example.net", true, ""},
		{"policy not found", enforcePolicy, 404, false, "mx.example.net", true, ""},
		{"redirect not followed", enforcePolicy, 302, false, "mx.example.net", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			sts := newSTSServer(t, e)
			sts.set(tt.status, tt.policy)
			cert := mustCert(t, tt.mx)
			if tt.trusted {
				e.trust(cert)
			}
			f := newFakeMX(t, &cert)
			e.dns.Add("example.net. 300 IN MX 10 "+tt.mx+".", tt.mx+". 300 IN A 127.0.0.2",
				`_mta-sts.example.net. 300 IN TXT "v=STSv1; id=1;"`)
			e.route("127.0.0.2", f.addr)
			q := e.queue(func(c *Config) { c.HTTPClient = sts.client })
			id := e.enqueue("alice@example.org", rcpts("bob@example.net"), testMessage)
			e.runOnce(q)
			en, queued := e.entry(id)
			if queued == tt.delivered || (len(f.messages()) == 1) != tt.delivered {
				t.Fatalf("queued %v, received %d; log:\n%s", queued, len(f.messages()), e.logs)
			}
			if !tt.delivered && !strings.Contains(en.Recipients[0].LastReply, tt.reply) {
				t.Errorf("last reply %q, want %q", en.Recipients[0].LastReply, tt.reply)
			}
			if tt.delivered && !f.messages()[0].tls {
				t.Error("delivered without TLS")
			}
		})
	}
}

// Policies are cached until the record's id changes or max_age passes; a
// policy that cannot be refreshed stays in force while unexpired.
func TestSTSCache(t *testing.T) {
	e := newEnv(t)
	sts := newSTSServer(t, e)
	sts.set(200, enforcePolicy)
	e.dns.Add(`_mta-sts.example.net. 300 IN TXT "v=STSv1; id=1;"`)
	c := newSTSCache(e.res, sts.client, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	check := func(step string, wantMode string, wantFetches int) {
		t.Helper()
		p := c.policy(ctx, "example.net")
		mode := ""
		if p != nil {
			mode = p.mode
		}
		if mode != wantMode || sts.fetches() != wantFetches {
			t.Errorf("%s: mode %q after %d fetches; want %q after %d", step, mode, sts.fetches(), wantMode, wantFetches)
		}
	}
	check("first", modeEnforce, 1)
	check("cached", modeEnforce, 1)
	e.dns.Remove("_mta-sts.example.net", 0)
	check("record gone, cache in force", modeEnforce, 1)
	e.dns.Add(`_mta-sts.example.net. 300 IN TXT "v=STSv1; id=2;"`)
	sts.set(500, "")
	check("new id, fetch fails, cache in force", modeEnforce, 2)
	sts.set(200, strings.Replace(enforcePolicy, "enforce", "testing", 1))
	check("new id fetched", modeTesting, 3)
	// Expiry: an expired policy is forgotten when nothing replaces it.
	c.mu.Lock()
	c.policies["example.net"].expires = time.Now().Add(-time.Second)
	c.mu.Unlock()
	sts.set(404, "")
	check("expired", "", 4)
	// mode none is no policy.
	e.dns.Remove("_mta-sts.example.net", 0)
	e.dns.Add(`_mta-sts.example.net. 300 IN TXT "v=STSv1; id=3;"`)
	sts.set(200, "version: STSv1\nmode: none\nmax_age: 100\n")
	check("none", "", 5)
	// Two v=STSv1 records: no policy, and no fetch.
	e.dns.Add(`_mta-sts.example.net. 300 IN TXT "v=STSv1; id=4;"`)
	c.mu.Lock()
	clear(c.policies)
	c.mu.Unlock()
	check("two records", "", 5)
}

// FuzzPolicy parses arbitrary policies: no panic, and what parses obeys
// the bounds.
func FuzzPolicy(f *testing.F) {
	f.Add([]byte(enforcePolicy))
	f.Add([]byte("version: STSv1\nmode: none\nmax_age: 0\n"))
	f.Add([]byte("mx: *.\nmx: *\nmax_age: 99999999999\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := parsePolicy(data)
		if err != nil {
			return
		}
		if p.maxAge < 0 || p.maxAge > maxPolicyAge*time.Second || len(p.mx) > maxPolicyMX {
			t.Fatalf("policy out of bounds: %+v", p)
		}
		if p.mode != modeNone && len(p.mx) == 0 {
			t.Fatal("policy without mx")
		}
		for _, m := range p.mx {
			p.matches(strings.TrimPrefix(m, "*."))
		}
	})
}

// FuzzSTSRecord parses arbitrary _mta-sts TXT records.
func FuzzSTSRecord(f *testing.F) {
	f.Add("v=STSv1; id=20160831085700Z;")
	f.Add("v=STSv1;id=a;x=y;")
	f.Add("v=STSv1; id=;;;")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := parseSTSRecord(s)
		if err != nil {
			return
		}
		if id == "" || len(id) > 32 || strings.Trim(id, alnum) != "" || !strings.HasPrefix(s, "v=STSv1") {
			t.Fatalf("parseSTSRecord(%q) = %q", s, id)
		}
	})
}
