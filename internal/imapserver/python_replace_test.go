package imapserver

import (
	"encoding/json"
	"encoding/pem"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"postel/internal/testutil/accounts"
)

// TestPythonReplaceCatenate drives UID REPLACE (RFC 8508) and APPEND with
// CATENATE (RFC 4469) from Python's imaplib, a client that knows neither
// and sends them as generic commands, and checks the store.
func TestPythonReplaceCatenate(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 is needed for this test: %v", err)
	}
	h := newHarness(t, func(c *Config) { c.AllowPlaintextLoopback = false })
	cert, err := accounts.Cert()
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Leaf.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(h.addr)
	cmd := exec.Command(py, "testdata/imaplib_replace.py", "localhost", port, ca, "alice@example.org", alicePass)
	outb, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("imaplib client failed: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
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
