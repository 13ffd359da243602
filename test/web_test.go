package test

import (
	"encoding/xml"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
)

// Client setup and policies over HTTPS (issue 11, part 5), fetched with
// curl from the running binary (its self-signed certificate: -k).

// curlHTTPS fetches path on host from the server's HTTPS listener (curl
// --resolve: the name is sent in SNI and Host as a client would), with
// more curl arguments; it returns the status and the body.
func curlHTTPS(t *testing.T, in *instance, host, path string, args ...string) (int, string) {
	t.Helper()
	_, port, err := net.SplitHostPort(in.listenAddr(t, "https"))
	if err != nil {
		t.Fatal(err)
	}
	const sep = "\n--postel-status--"
	all := append([]string{"-sS", "-k", "--max-time", "30", "--resolve", host + ":" + port + ":127.0.0.1",
		"-w", sep + "%{http_code}"}, args...)
	out := mustRun(t, "curl", append(all, "https://"+host+":"+port+path)...)
	body, status, ok := strings.Cut(out, sep)
	code, err := strconv.Atoi(status)
	if !ok || err != nil {
		t.Fatalf("curl printed %q", out)
	}
	return code, body
}

// Thunderbird's clientConfig, the parts the test reads.
type tbConfig struct {
	Provider struct {
		ID       string     `xml:"id,attr"`
		Domain   string     `xml:"domain"`
		Incoming []tbServer `xml:"incomingServer"`
		Outgoing []tbServer `xml:"outgoingServer"`
	} `xml:"emailProvider"`
}

type tbServer struct {
	Type       string `xml:"type,attr"`
	Hostname   string `xml:"hostname"`
	Port       int    `xml:"port"`
	SocketType string `xml:"socketType"`
	Username   string `xml:"username"`
}

// Outlook's autodiscover response, the parts the test reads.
type adResponse struct {
	XMLName  xml.Name `xml:"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006 Autodiscover"`
	Response struct {
		Account struct {
			AccountType string `xml:"AccountType"`
			Action      string `xml:"Action"`
			Protocol    []struct {
				Type       string `xml:"Type"`
				Server     string `xml:"Server"`
				Port       int    `xml:"Port"`
				LoginName  string `xml:"LoginName"`
				Encryption string `xml:"Encryption"`
			} `xml:"Protocol"`
		} `xml:"Account"`
	} `xml:"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a Response"`
}

// TestHTTPSClientSetup: the running server's HTTPS listener gives mail
// clients the ports the config gives its listeners: Thunderbird's
// autoconfig (on the hostname, with the address asked about, and on
// autoconfig.DOMAIN), Outlook's autodiscover (POST) for a local address,
// not for a foreign domain; and the MTA-STS policy of a local domain
// names the hostname as its mx.
func TestHTTPSClientSetup(t *testing.T) {
	in := newInstance(t, "")
	in.setup()
	in.start()
	port := func(key string) int {
		_, p, err := net.SplitHostPort(in.ports[key])
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.Atoi(p)
		return n
	}

	wantTB := func(servers []tbServer) string {
		var b strings.Builder
		for _, s := range servers {
			fmt.Fprintf(&b, "%s %s:%d %s %s; ", s.Type, s.Hostname, s.Port, s.SocketType, s.Username)
		}
		return b.String()
	}
	wantIn := wantTB([]tbServer{
		{"imap", harnessHost, port("imaps"), "SSL", "%EMAILADDRESS%"},
		{"imap", harnessHost, port("imap"), "STARTTLS", "%EMAILADDRESS%"},
		{"pop3", harnessHost, port("pop3s"), "SSL", "%EMAILADDRESS%"},
		{"pop3", harnessHost, port("pop3"), "STARTTLS", "%EMAILADDRESS%"},
	})
	wantOut := wantTB([]tbServer{
		{"smtp", harnessHost, port("submissions"), "SSL", "%EMAILADDRESS%"},
		{"smtp", harnessHost, port("submission"), "STARTTLS", "%EMAILADDRESS%"},
	})
	for _, c := range []struct{ host, path string }{
		{harnessHost, "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=alice%40example.org"},
		{"autoconfig.example.org", "/mail/config-v1.1.xml?emailaddress=alice%40example.org"},
		{"autoconfig.example.org", "/mail/config-v1.1.xml"},
	} {
		code, body := curlHTTPS(t, in, c.host, c.path)
		if code != 200 {
			t.Fatalf("%s%s: status %d: %s", c.host, c.path, code, body)
		}
		var cfg tbConfig
		if err := xml.Unmarshal([]byte(body), &cfg); err != nil {
			t.Fatalf("%s%s: %v\n%s", c.host, c.path, err, body)
		}
		p := cfg.Provider
		if p.ID != "example.org" || p.Domain != "example.org" || wantTB(p.Incoming) != wantIn || wantTB(p.Outgoing) != wantOut {
			t.Errorf("%s%s: provider %s (%s)\nincoming %s\nwant     %s\noutgoing %s\nwant     %s",
				c.host, c.path, p.ID, p.Domain, wantTB(p.Incoming), wantIn, wantTB(p.Outgoing), wantOut)
		}
	}
	if code, body := curlHTTPS(t, in, harnessHost, "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=bob%40elsewhere.example"); code != 404 {
		t.Errorf("autoconfig for a foreign domain: status %d: %s", code, body)
	}

	autodiscover := func(address string) (int, string) {
		t.Helper()
		req := `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>` + address + `</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>`
		return curlHTTPS(t, in, "autodiscover.example.org", "/Autodiscover/Autodiscover.xml",
			"-X", "POST", "-H", "Content-Type: text/xml", "--data-binary", req)
	}
	code, body := autodiscover("alice@example.org")
	if code != 200 {
		t.Fatalf("autodiscover: status %d: %s", code, body)
	}
	var ad adResponse
	if err := xml.Unmarshal([]byte(body), &ad); err != nil {
		t.Fatalf("autodiscover: %v\n%s", err, body)
	}
	var got []string
	for _, p := range ad.Response.Account.Protocol {
		got = append(got, fmt.Sprintf("%s %s:%d %s %s", p.Type, p.Server, p.Port, p.Encryption, p.LoginName))
	}
	want := []string{
		fmt.Sprintf("IMAP %s:%d SSL alice@example.org", harnessHost, port("imaps")),
		fmt.Sprintf("POP3 %s:%d SSL alice@example.org", harnessHost, port("pop3s")),
		fmt.Sprintf("SMTP %s:%d SSL alice@example.org", harnessHost, port("submissions")),
	}
	if a := ad.Response.Account; a.AccountType != "email" || a.Action != "settings" || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("autodiscover: %s %s\n%s\nwant\n%s", a.AccountType, a.Action, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if code, body := autodiscover("bob@elsewhere.example"); code != 404 {
		t.Errorf("autodiscover for a foreign domain: status %d: %s", code, body)
	}

	code, body = curlHTTPS(t, in, "mta-sts.example.org", "/.well-known/mta-sts.txt")
	if code != 200 || !strings.HasPrefix(body, "version: STSv1\r\n") || !strings.Contains(body, "\r\nmx: "+harnessHost+"\r\n") {
		t.Errorf("MTA-STS policy: status %d: %q", code, body)
	}
	if code, body := curlHTTPS(t, in, "mta-sts.elsewhere.example", "/.well-known/mta-sts.txt"); code != 404 {
		t.Errorf("MTA-STS policy of a foreign domain: status %d: %q", code, body)
	}
}
