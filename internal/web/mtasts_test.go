package web

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// parsePolicy parses a policy file as RFC 8461 §3.2 defines it, strictly:
//
//	sts-policy-record  = sts-policy-field *WSP *(sts-policy-term sts-policy-field *WSP) [sts-policy-term]
//	sts-policy-field   = sts-policy-version / sts-policy-mode / sts-policy-max-age / sts-policy-mx / sts-policy-extension
//	sts-policy-term    = LF / CRLF
//	field              = name ":" *WSP value
//
// It returns the fields in order, and fails the test on any line that
// does not match, on a bare CR, and on a missing or repeated required
// field.
func parsePolicy(t *testing.T, text string) [][2]string {
	t.Helper()
	field := regexp.MustCompile(`^([A-Za-z0-9_]{1,32}):[ \t]*([\x21-\x7e]+(?:[ \t]+[\x21-\x7e]+)*)[ \t]*$`)
	if !strings.HasSuffix(text, "\n") {
		t.Errorf("policy does not end with a line terminator: %q", text)
	}
	var fields [][2]string
	for _, line := range strings.SplitAfter(text, "\n") {
		if line == "" {
			continue
		}
		if !strings.HasSuffix(line, "\r\n") {
			t.Errorf("line %q does not end in CRLF", line)
		}
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		if strings.Contains(line, "\r") {
			t.Errorf("bare CR in %q", line)
		}
		m := field.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("line %q is not a policy field", line)
			continue
		}
		fields = append(fields, [2]string{m[1], m[2]})
	}
	count := map[string]int{}
	for _, f := range fields {
		count[f[0]]++
	}
	for _, k := range []string{"version", "mode", "max_age"} {
		if count[k] != 1 {
			t.Errorf("field %s appears %d times, want once", k, count[k])
		}
	}
	if len(fields) == 0 || fields[0] != [2]string{"version", "STSv1"} {
		t.Errorf("first field %v, want version: STSv1 (RFC 8461 §3.2: version comes first)", fields)
	}
	return fields
}

// values returns the values of key in fields.
func values(fields [][2]string, key string) []string {
	var out []string
	for _, f := range fields {
		if f[0] == key {
			out = append(out, f[1])
		}
	}
	return out
}

func TestMTASTSPolicy(t *testing.T) {
	c := serveTLS(t, New(testConfig()))
	for _, domain := range []string{"example.org", "example.net"} {
		resp, body := do(t, c, "GET", "https://mta-sts."+domain+"/.well-known/mta-sts.txt", "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d %q", domain, resp.StatusCode, body)
		}
		// RFC 8461 §3.3: media type text/plain.
		if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
			t.Errorf("Content-Type %q", ct)
		}
		fields := parsePolicy(t, body)
		if got := values(fields, "mode"); len(got) != 1 || got[0] != "enforce" {
			t.Errorf("mode %q, want enforce", got)
		}
		if got := values(fields, "mx"); len(got) != 1 || got[0] != hostname {
			t.Errorf("mx %q, want %s", got, hostname)
		}
		if got := values(fields, "max_age"); len(got) != 1 || got[0] != "604800" {
			t.Errorf("max_age %q, want 604800", got)
		}
	}

	// HEAD: the same headers, no body.
	resp, body := do(t, c, "HEAD", "https://mta-sts.example.org/.well-known/mta-sts.txt", "")
	if resp.StatusCode != http.StatusOK || body != "" || resp.ContentLength != int64(len(New(testConfig()).policy.Text())) {
		t.Errorf("HEAD: status %d, body %q, Content-Length %d", resp.StatusCode, body, resp.ContentLength)
	}

	// Only mta-sts. names of local domains have a policy; none is ever
	// a redirect (senders must not follow one, RFC 8461 §3.3).
	for _, url := range []string{
		"https://mta-sts.other.org/.well-known/mta-sts.txt",
		"https://example.org/.well-known/mta-sts.txt",
		"https://mail.example.org/.well-known/mta-sts.txt",
	} {
		resp, body := do(t, c, "GET", url, "")
		if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Location") != "" {
			t.Errorf("%s: status %d, Location %q, want 404", url, resp.StatusCode, resp.Header.Get("Location"))
		}
		wantPlainError(t, resp, body, http.StatusNotFound, "")
	}
}

func TestPolicyConfig(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		mode   string
		maxAge string
	}{
		{"defaults", Config{Hostname: "MX.Example.org."}, "enforce", "604800"},
		{"testing", Config{Hostname: "mx.example.org", MTASTSMode: "testing", MTASTSMaxAge: 24 * time.Hour}, "testing", "86400"},
		{"none", Config{Hostname: "mx.example.org", MTASTSMode: "none", MTASTSMaxAge: 31557600 * time.Second}, "none", "31557600"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fields := parsePolicy(t, tt.cfg.Policy().Text())
			if got := values(fields, "mode"); len(got) != 1 || got[0] != tt.mode {
				t.Errorf("mode %q, want %s", got, tt.mode)
			}
			if got := values(fields, "max_age"); len(got) != 1 || got[0] != tt.maxAge {
				t.Errorf("max_age %q, want %s", got, tt.maxAge)
			}
			if got := values(fields, "mx"); len(got) != 1 || got[0] != "mx.example.org" {
				t.Errorf("mx %q, want mx.example.org", got)
			}
		})
	}
}

// parseRecord parses the TXT record as RFC 8461 §3.1 defines it:
// "v=STSv1" first, then "id=" 1 to 32 letters and digits, fields
// separated by ";" with optional white space. It returns the id.
func parseRecord(t *testing.T, txt string) string {
	t.Helper()
	fields := strings.Split(txt, ";")
	if strings.TrimSpace(fields[0]) != "v=STSv1" || !strings.HasPrefix(txt, "v=STSv1") {
		t.Fatalf("record %q does not start with v=STSv1", txt)
	}
	id := regexp.MustCompile(`^id=([A-Za-z0-9]{1,32})$`)
	var found []string
	for _, f := range fields[1:] {
		f = strings.TrimSpace(f)
		if m := id.FindStringSubmatch(f); m != nil {
			found = append(found, m[1])
		} else if f != "" {
			t.Errorf("record %q: field %q is not id=", txt, f)
		}
	}
	if len(found) != 1 {
		t.Fatalf("record %q has %d ids", txt, len(found))
	}
	return found[0]
}

func TestPolicyRecord(t *testing.T) {
	base := STSPolicy{Mode: "enforce", MX: []string{"mx.example.org"}, MaxAge: DefaultMTASTSMaxAge}
	id := parseRecord(t, base.Record())
	if id != base.ID() {
		t.Errorf("record id %q, ID() %q", id, base.ID())
	}
	same := STSPolicy{Mode: "enforce", MX: []string{"mx.example.org"}, MaxAge: DefaultMTASTSMaxAge}
	if same.ID() != id {
		t.Error("the same policy got another id")
	}
	// Any change of the policy changes the id (RFC 8461 §3.1), so that
	// senders fetch it again.
	changes := []STSPolicy{
		{Mode: "testing", MX: []string{"mx.example.org"}, MaxAge: DefaultMTASTSMaxAge},
		{Mode: "enforce", MX: []string{"mx2.example.org"}, MaxAge: DefaultMTASTSMaxAge},
		{Mode: "enforce", MX: []string{"mx.example.org", "mx2.example.org"}, MaxAge: DefaultMTASTSMaxAge},
		{Mode: "enforce", MX: []string{"mx.example.org"}, MaxAge: DefaultMTASTSMaxAge + time.Second},
	}
	seen := map[string]bool{id: true}
	for _, p := range changes {
		got := parseRecord(t, p.Record())
		if seen[got] {
			t.Errorf("policy %+v: id %s repeats an earlier one", p, got)
		}
		seen[got] = true
	}
	// The record of a configured server is the one of the policy it serves.
	h := New(testConfig())
	if testConfig().Policy().Record() != h.policy.Record() {
		t.Error("Config.Policy and the served policy differ")
	}
	if n, err := strconv.Atoi(values(parsePolicy(t, h.policy.Text()), "max_age")[0]); err != nil || n != 604800 {
		t.Errorf("served max_age %d %v", n, err)
	}
}
