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

// TestPythonImaplib drives the server with Python's imaplib (STARTTLS,
// LOGIN, LIST, LSUB, APPEND, SELECT, SEARCH, FETCH, STORE, COPY, UID
// MOVE, STATUS, GETQUOTAROOT, EXPUNGE, CLOSE, RENAME, DELETE) and checks
// its answers against the store. python3 is required.
func TestPythonImaplib(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.AllowPlaintextLoopback = false })
	outb := runImaplib(t, h, "testdata/imaplib_client.py", "alice@example.org", alicePass)
	var out struct {
		Capabilities []string
		Namespace    string
		List, Lsub   []string
		Append       string
		Select       int
		Search       string
		FetchMeta    string `json:"fetch_meta"`
		FetchHeader  string `json:"fetch_header"`
		FetchText    string `json:"fetch_text"`
		Store        []string
		Status       string
		Copy         []string
		Quotaroot    [][]string
		ArchiveFetch []string `json:"archive_fetch"`
		Expunge      []string
		ListAfter    []string `json:"list_after"`
	}
	if err := json.Unmarshal(outb, &out); err != nil {
		t.Fatalf("%v: %s", err, outb)
	}
	inbox := h.mailbox(h.alice, "INBOX")
	checks := []struct {
		what string
		ok   bool
	}{
		{"capabilities", slices.Contains(out.Capabilities, "IMAP4REV1") && slices.Contains(out.Capabilities, "AUTH=PLAIN") &&
			!slices.Contains(out.Capabilities, "STARTTLS")},
		{"namespace", out.Namespace == `(("" "/")) (("Other Users/" "/")) NIL`},
		{"list", slices.Contains(out.List, `(\HasChildren) "/" "Py"`) && slices.Contains(out.List, `(\HasNoChildren) "/" "Py/Sub"`)},
		{"lsub", slices.Equal(out.Lsub, []string{`() "/" "Py/Sub"`})}, // CREATE does not subscribe
		{"append", strings.HasPrefix(out.Append, "[APPENDUID "+itoa(inbox.UIDValidity)+" 1]")},
		{"select", out.Select == 1},
		{"search", out.Search == "1"},
		{"fetch meta", strings.HasPrefix(out.FetchMeta, `1 (UID 1 FLAGS (\Seen \Recent) RFC822.SIZE 67 BODY[HEADER.FIELDS (SUBJECT)] {24}`)},
		{"fetch header", out.FetchHeader == "Subject: from python\r\n\r\n"},
		{"fetch text", out.FetchText == "Hello from imaplib.\r\n"},
		{"store", slices.Equal(out.Store, []string{`1 (FLAGS (\Flagged \Seen \Recent))`})},
		{"status", out.Status == `"Py/Sub" (MESSAGES 1 UIDNEXT 2 UNSEEN 0)`},
		{"copy", len(out.Copy) == 1 && strings.HasPrefix(out.Copy[0], "[COPYUID ") && strings.HasSuffix(out.Copy[0], " 1 1] COPY completed")},
		{"quotaroot", len(out.Quotaroot) == 2 && slices.Equal(out.Quotaroot[0], []string{"INBOX"}) && len(out.Quotaroot[1]) == 0},
		{"archive", slices.Equal(out.ArchiveFetch, []string{`1 (FLAGS (\Flagged \Seen \Recent))`})},
		{"expunge", slices.Equal(out.Expunge, []string{"1"})},
		{"list after", slices.Equal(out.ListAfter, []string{`(\HasNoChildren) "/" "Python"`})},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: unexpected answer; imaplib saw %s", c.what, outb)
		}
	}
	if n := len(h.messages(h.alice, "INBOX")); n != 0 {
		t.Errorf("INBOX has %d messages after UID MOVE", n)
	}
	if n := len(h.messages(h.alice, "Archive")); n != 0 {
		t.Errorf("Archive has %d messages after EXPUNGE", n)
	}
}

// runImaplib runs a Python imaplib script against h, which must serve
// TLS only: the script gets host, port and the CA file (the test
// certificate names localhost), then args, and its standard output (JSON)
// is returned. python3 is required.
func runImaplib(t *testing.T, h *harness, script string, args ...string) []byte {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 is needed for this test: %v", err)
	}
	cert, err := accounts.Cert()
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Leaf.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(h.addr)
	cmd := exec.Command(py, append([]string{script, "localhost", port, ca}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("imaplib client failed: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	return out
}
