package web

import (
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// outlookRequest is the request Outlook sends for address.
func outlookRequest(address string) string {
	return `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>` + address + `</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>
`
}

// parsedProtocol is a Protocol element as a client reads it.
type parsedProtocol struct {
	Type, Server string
	Port         int
	LoginName    string
	SSL          string
	Encryption   string
	AuthRequired string
	SPA          string
}

// parsedResponse is an autodiscover response as a client reads it, with
// the namespaces checked.
type parsedResponse struct {
	XMLName  xml.Name `xml:"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006 Autodiscover"`
	Response struct {
		XMLName xml.Name `xml:"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a Response"`
		Account struct {
			AccountType string
			Action      string
			Protocol    []parsedProtocol
		}
	}
}

func TestAutodiscover(t *testing.T) {
	c := serveTLS(t, New(testConfig()))
	tests := []struct {
		name, url, address, login string
	}{
		{"lower case path", "https://mail.example.org/autodiscover/autodiscover.xml", "alice@example.org", "alice@example.org"},
		{"Outlook's capitals", "https://autodiscover.example.org/Autodiscover/Autodiscover.xml", "Bob.Smith@Example.NET", "Bob.Smith@example.net"},
		{"white space around", "https://example.org/AutoDiscover/AutoDiscover.xml", "\n  carol@example.org  \n", "carol@example.org"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, c, "POST", tt.url, outlookRequest(tt.address))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d %q", resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/xml; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			var got parsedResponse
			if err := xml.Unmarshal([]byte(body), &got); err != nil {
				t.Fatalf("%v in %s", err, body)
			}
			acct := got.Response.Account
			if acct.AccountType != "email" || acct.Action != "settings" {
				t.Errorf("AccountType %q, Action %q", acct.AccountType, acct.Action)
			}
			want := []parsedProtocol{
				{"IMAP", hostname, 993, tt.login, "on", "SSL", "on", "off"},
				{"POP3", hostname, 995, tt.login, "on", "SSL", "on", "off"},
				{"SMTP", hostname, 465, tt.login, "on", "SSL", "on", "off"},
			}
			if !slices.Equal(acct.Protocol, want) {
				t.Errorf("protocols\n got %+v\nwant %+v", acct.Protocol, want)
			}
		})
	}
}

func TestAutodiscoverSTARTTLS(t *testing.T) {
	cfg := testConfig()
	cfg.Ports = Ports{IMAP: 143, Submission: 587}
	c := serveTLS(t, New(cfg))
	resp, body := do(t, c, "POST", "https://mail.example.org/autodiscover/autodiscover.xml", outlookRequest("alice@example.org"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d %q", resp.StatusCode, body)
	}
	var got parsedResponse
	if err := xml.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	want := []parsedProtocol{
		{"IMAP", hostname, 143, "alice@example.org", "on", "TLS", "on", "off"},
		{"SMTP", hostname, 587, "alice@example.org", "on", "TLS", "on", "off"},
	}
	if !slices.Equal(got.Response.Account.Protocol, want) {
		t.Errorf("protocols\n got %+v\nwant %+v", got.Response.Account.Protocol, want)
	}
}

func TestAutodiscoverRefused(t *testing.T) {
	c := serveTLS(t, New(testConfig()))
	const url = "https://mail.example.org/autodiscover/autodiscover.xml"
	tests := []struct {
		name, body string
		status     int
		text       string
	}{
		{"other domain", outlookRequest("alice@other.org"), http.StatusNotFound, "no such domain"},
		{"subdomain", outlookRequest("alice@sub.example.org"), http.StatusNotFound, "no such domain"},
		{"no address", outlookRequest(""), http.StatusBadRequest, "not an address"},
		{"no domain", outlookRequest("alice@"), http.StatusBadRequest, "not an address"},
		{"no local part", outlookRequest("@example.org"), http.StatusBadRequest, "not an address"},
		{"space inside", outlookRequest("al ice@example.org"), http.StatusBadRequest, "not an address"},
		{"angle brackets", outlookRequest("Alice &lt;alice@example.org&gt;"), http.StatusBadRequest, "not an address"},
		{"local part too long", outlookRequest(strings.Repeat("a", 65) + "@example.org"), http.StatusBadRequest, "not an address"},
		{"empty body", "", http.StatusBadRequest, "bad autodiscover request"},
		{"not XML", "EMailAddress=alice@example.org", http.StatusBadRequest, "bad autodiscover request"},
		{"other root", "<Request><EMailAddress>alice@example.org</EMailAddress></Request>", http.StatusBadRequest, "bad autodiscover request"},
		{"unclosed", "<Autodiscover><Request><EMailAddress>alice@example.org", http.StatusBadRequest, "bad autodiscover request"},
		{"unknown entity", "<Autodiscover><Request><EMailAddress>&x;</EMailAddress></Request></Autodiscover>", http.StatusBadRequest, "bad autodiscover request"},
		{"ActiveSync schema", strings.Replace(outlookRequest("alice@example.org"), "outlook/responseschema/2006a", "mobilesync/responseschema/2006", 1), http.StatusBadRequest, "response schema"},
		{"too large", outlookRequest("alice@example.org") + "<!--" + strings.Repeat("x", maxAutodiscoverBody) + "-->", http.StatusRequestEntityTooLarge, "too large"},
		{"too large before the address", "<Autodiscover><!--" + strings.Repeat("x", 2*maxAutodiscoverBody), http.StatusRequestEntityTooLarge, "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, c, "POST", url, tt.body)
			wantPlainError(t, resp, body, tt.status, tt.text)
		})
	}
}

// FuzzAutodiscover sends arbitrary bodies to the autodiscover handler and
// checks what it answers: 200 only for an address of a local domain, with
// a response that parses and names exactly that address and this host;
// otherwise a plain-text 400, 404 or 413; never a server fault.
func FuzzAutodiscover(f *testing.F) {
	// More seeds in testdata/fuzz/FuzzAutodiscover.
	f.Add([]byte(outlookRequest("alice@example.org")))
	h := New(testConfig())
	f.Fuzz(func(t *testing.T, body []byte) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("POST", "https://mail.example.org/autodiscover/autodiscover.xml", strings.NewReader(string(body))))
		resp := w.Result()
		switch resp.StatusCode {
		case http.StatusOK:
		case http.StatusBadRequest, http.StatusNotFound, http.StatusRequestEntityTooLarge:
			if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
				t.Fatalf("status %d with Content-Type %q", resp.StatusCode, ct)
			}
			return
		default:
			t.Fatalf("status %d: %s", resp.StatusCode, w.Body.String())
		}
		// Answered: the request named an address of a local domain.
		local, domain, err := parseAutodiscover(strings.NewReader(string(body)))
		if err != nil {
			t.Fatalf("answered 200 a request the parser refuses: %v", err)
		}
		if domain != "example.org" && domain != "example.net" {
			t.Fatalf("answered for domain %q", domain)
		}
		var got parsedResponse
		if err := xml.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatalf("response does not parse: %v\n%s", err, w.Body.String())
		}
		if len(got.Response.Account.Protocol) != 3 {
			t.Fatalf("%d protocols", len(got.Response.Account.Protocol))
		}
		for _, p := range got.Response.Account.Protocol {
			if p.LoginName != local+"@"+domain || p.Server != hostname {
				t.Fatalf("protocol %+v for %s@%s", p, local, domain)
			}
		}
	})
}
