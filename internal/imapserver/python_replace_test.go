package imapserver

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// TestPythonReplaceCatenate drives UID REPLACE (RFC 8508) and APPEND with
// CATENATE (RFC 4469) from Python's imaplib, a client that knows neither
// and sends them as generic commands, and checks the store.
func TestPythonReplaceCatenate(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.AllowPlaintextLoopback = false })
	outb := runImaplib(t, h, "testdata/imaplib_replace.py", "alice@example.org", alicePass)
	var out struct {
		Capabilities []string
		Replace      string
		AppendUID    []string
		Expunge      []string
		Catenate     string
		Sent         string
	}
	if err := json.Unmarshal(outb, &out); err != nil {
		t.Fatalf("%v: %s", err, outb)
	}
	drafts, sent := h.mailbox(h.alice, "Drafts"), h.mailbox(h.alice, "Sent")
	const body = "Subject: draft\r\n\r\nfirst words, and more\r\n"
	checks := []struct {
		what string
		ok   bool
	}{
		{"capabilities", slices.Contains(out.Capabilities, "REPLACE") && slices.Contains(out.Capabilities, "CATENATE")},
		{"replace", out.Replace == "OK"},
		{"appenduid", slices.Equal(out.AppendUID, []string{itoa(drafts.UIDValidity) + " 2"})},
		{"expunge", slices.Equal(out.Expunge, []string{"1"})},
		{"catenate", strings.HasPrefix(out.Catenate, "[APPENDUID "+itoa(sent.UIDValidity)+" 1]")},
		{"sent", out.Sent == body},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: unexpected answer; imaplib saw %s", c.what, outb)
		}
	}
	if ms := h.messages(h.alice, "Drafts"); len(ms) != 1 || ms[0].UID != 2 {
		t.Errorf("Drafts after UID REPLACE: %+v", ms)
	}
}
