package web

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestRedirect(t *testing.T) {
	tests := []struct {
		name, method, host, target string
		port                       int
		status                     int
		location                   string
	}{
		{"GET", "GET", "mail.example.org", "/x?y=1", 443, 301, "https://mail.example.org/x?y=1"},
		{"HEAD", "HEAD", "mail.example.org", "/", 0, 301, "https://mail.example.org/"},
		{"port of the http listener dropped", "GET", "Mail.Example.org:80", "/a", 443, 301, "https://mail.example.org/a"},
		{"other https port", "GET", "mail.example.org:8080", "/a", 8443, 301, "https://mail.example.org:8443/a"},
		{"IPv4", "GET", "192.0.2.1", "/", 443, 301, "https://192.0.2.1/"},
		{"IPv6", "GET", "[2001:db8::1]:80", "/p", 8443, 301, "https://[2001:db8::1]:8443/p"},
		{"absolute form", "GET", "mail.example.org", "http://mail.example.org/q?a=b", 443, 301, "https://mail.example.org/q?a=b"},
		{"POST", "POST", "mail.example.org", "/", 443, 400, ""},
		{"PUT", "PUT", "mail.example.org", "/", 443, 400, ""},
		{"empty label", "GET", "mail..example.org", "/", 443, 400, ""},
		{"no host", "GET", "", "/", 443, 400, ""},
		{"not a name", "GET", "mail.example.org%2f", "/", 443, 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.target, nil)
			req.Host = tt.host
			w := httptest.NewRecorder()
			Redirect(tt.port).ServeHTTP(w, req)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d (%q)", w.Code, tt.status, w.Body.String())
			}
			if got := w.Header().Get("Location"); got != tt.location {
				t.Errorf("Location %q, want %q", got, tt.location)
			}
			if tt.status != 301 && w.Header().Get("Content-Type") != "text/plain; charset=utf-8" {
				t.Errorf("Content-Type %q", w.Header().Get("Content-Type"))
			}
		})
	}
}

// TestRedirectServed runs the redirect on a real listener, driven by
// Go's client.
func TestRedirectServed(t *testing.T) {
	srv := httptest.NewServer(Redirect(8443))
	t.Cleanup(srv.Close)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(srv.URL + "/mail/config-v1.1.xml?emailaddress=a%40example.org")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := "https://127.0.0.1:8443/mail/config-v1.1.xml?emailaddress=a%40example.org"; resp.StatusCode != 301 || resp.Header.Get("Location") != want {
		t.Errorf("status %d, Location %q, want 301 to %s", resp.StatusCode, resp.Header.Get("Location"), want)
	}
}
