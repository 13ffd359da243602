package web

import (
	"encoding/xml"
	"net/http"
	"slices"
	"testing"
)

// server is one server of a parsed clientConfig.
type server struct {
	Type           string `xml:"type,attr"`
	Hostname       string `xml:"hostname"`
	Port           int    `xml:"port"`
	SocketType     string `xml:"socketType"`
	Authentication string `xml:"authentication"`
	Username       string `xml:"username"`
}

// parsedConfig is a clientConfig as a client reads it.
type parsedConfig struct {
	XMLName  xml.Name `xml:"clientConfig"`
	Version  string   `xml:"version,attr"`
	Provider struct {
		ID       string   `xml:"id,attr"`
		Domains  []string `xml:"domain"`
		Incoming []server `xml:"incomingServer"`
		Outgoing []server `xml:"outgoingServer"`
	} `xml:"emailProvider"`
}

func TestAutoconfig(t *testing.T) {
	c := serveTLS(t, New(testConfig()))
	tests := []struct {
		name, url, domain string
	}{
		{"autoconfig host", "https://autoconfig.example.org/mail/config-v1.1.xml?emailaddress=alice%40example.org", "example.org"},
		{"autoconfig host, no address", "https://autoconfig.example.net/mail/config-v1.1.xml", "example.net"},
		{"well-known on the domain", "https://example.org/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=alice%40example.org", "example.org"},
		{"the hostname, by address", "https://mail.example.org/mail/config-v1.1.xml?emailaddress=bob%40Example.Net", "example.net"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, c, "GET", tt.url, "")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d %q", resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/xml; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			var cfg parsedConfig
			if err := xml.Unmarshal([]byte(body), &cfg); err != nil {
				t.Fatalf("%v in %s", err, body)
			}
			if cfg.Version != "1.1" || cfg.Provider.ID != tt.domain || len(cfg.Provider.Domains) != 1 || cfg.Provider.Domains[0] != tt.domain {
				t.Errorf("version %q, provider %q, domains %q; want 1.1 and %s", cfg.Version, cfg.Provider.ID, cfg.Provider.Domains, tt.domain)
			}
			// Implicit TLS first (RFC 8314 §3), every server this
			// host, the whole address as user name.
			wantIn := []server{
				{"imap", hostname, 993, "SSL", "password-cleartext", "%EMAILADDRESS%"},
				{"imap", hostname, 143, "STARTTLS", "password-cleartext", "%EMAILADDRESS%"},
				{"pop3", hostname, 995, "SSL", "password-cleartext", "%EMAILADDRESS%"},
				{"pop3", hostname, 110, "STARTTLS", "password-cleartext", "%EMAILADDRESS%"},
			}
			wantOut := []server{
				{"smtp", hostname, 465, "SSL", "password-cleartext", "%EMAILADDRESS%"},
				{"smtp", hostname, 587, "STARTTLS", "password-cleartext", "%EMAILADDRESS%"},
			}
			if !slices.Equal(cfg.Provider.Incoming, wantIn) || !slices.Equal(cfg.Provider.Outgoing, wantOut) {
				t.Errorf("servers\n in %+v\nout %+v", cfg.Provider.Incoming, cfg.Provider.Outgoing)
			}
		})
	}

	for _, url := range []string{
		"https://autoconfig.other.org/mail/config-v1.1.xml",
		"https://other.org/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=a%40other.org",
		"https://mail.example.org/mail/config-v1.1.xml",
		"https://mail.example.org/mail/config-v1.1.xml?emailaddress=a%40other.org",
		"https://mail.example.org/mail/config-v1.1.xml?emailaddress=not-an-address",
	} {
		resp, body := do(t, c, "GET", url, "")
		wantPlainError(t, resp, body, http.StatusNotFound, "no such domain")
	}
}

func TestAutoconfigPorts(t *testing.T) {
	cfg := testConfig()
	cfg.Ports = Ports{IMAPS: 2993, Submission: 2587}
	c := serveTLS(t, New(cfg))
	resp, body := do(t, c, "GET", "https://autoconfig.example.org/mail/config-v1.1.xml", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d %q", resp.StatusCode, body)
	}
	var got parsedConfig
	if err := xml.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	wantIn := []server{{"imap", hostname, 2993, "SSL", "password-cleartext", "%EMAILADDRESS%"}}
	wantOut := []server{{"smtp", hostname, 2587, "STARTTLS", "password-cleartext", "%EMAILADDRESS%"}}
	if !slices.Equal(got.Provider.Incoming, wantIn) || !slices.Equal(got.Provider.Outgoing, wantOut) {
		t.Errorf("servers\n in %+v\nout %+v", got.Provider.Incoming, got.Provider.Outgoing)
	}
}
