package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// deliverSMTP sends n messages to alice over the MX with raw SMTP.
func (in *instance) deliverSMTP(t *testing.T, subjects ...string) {
	t.Helper()
	s := dialSMTP(t, in.ports["smtp"], false)
	s.cmd("EHLO client.example", "250")
	for _, subj := range subjects {
		s.cmd("MAIL FROM:<x@remote.example>", "250")
		s.cmd("RCPT TO:<alice@example.org>", "250")
		s.data(fmt.Sprintf("From: x@remote.example\r\nTo: alice@example.org\r\nSubject: %s\r\n\r\nbody of %s\r\n", subj, subj), "250")
	}
	s.cmd("QUIT", "221")
}

// TestIMAPCurl lists and fetches with curl over implicit TLS and STARTTLS.
func TestIMAPCurl(t *testing.T) {
	in := newInstance(t, "")
	in.setup()
	in.start()
	in.deliverSMTP(t, "first", "second")
	user := "alice@example.org:" + alicePassword
	list := mustRun(t, "curl", "-sSk", "--user", user, "imaps://"+in.ports["imaps"]+"/")
	for _, mb := range []string{"INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"} {
		if !strings.Contains(list, mb) {
			t.Errorf("curl LIST lacks %s:\n%s", mb, list)
		}
	}
	msg := mustRun(t, "curl", "-sSk", "--user", user, "imaps://"+in.ports["imaps"]+"/INBOX;UID=2")
	if stored := in.messages("INBOX"); len(stored) != 2 || msg != stored[1] {
		t.Fatalf("curl fetched %q, stored %q", msg, stored)
	}
	// STARTTLS on the plain port; curl refuses to go on without it.
	msg = mustRun(t, "curl", "-sSk", "--ssl-reqd", "--user", user, "imap://"+in.ports["imap"]+"/INBOX;UID=1")
	if !strings.Contains(msg, "Subject: first") {
		t.Fatalf("curl over STARTTLS fetched %q", msg)
	}
	// A wrong password: the server refuses the login (RFC 5530
	// AUTHENTICATIONFAILED), and curl says so (exit 67, CURLE_LOGIN_DENIED),
	// not some other failure.
	out, err := exec.Command("curl", "-vsSk", "--user", "alice@example.org:wrong password", "imaps://"+in.ports["imaps"]+"/").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 67 || !regexp.MustCompile(`(?m)^< \S+ NO \[AUTHENTICATIONFAILED\]`).Match(out) {
		t.Fatalf("wrong password: %v, want exit 67 after NO [AUTHENTICATIONFAILED]:\n%s", err, out)
	}
}

// pythonIMAP runs script with Python's imaplib after a preamble that
// connects m to the IMAPS port (the certificate unchecked) and logs alice
// in; it returns what the script printed.
func (in *instance) pythonIMAP(t *testing.T, script string) string {
	t.Helper()
	return mustRun(t, "python3", "-c", pyIMAPAlice+script, in.ports["imaps"], alicePassword)
}

const pyIMAPAlice = `
import imaplib, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
host, port = sys.argv[1].rsplit(":", 1)
m = imaplib.IMAP4_SSL(host, int(port), ssl_context=ctx)
m.login("alice@example.org", sys.argv[2])
`

// TestIMAPPython drives the server with Python's imaplib.
func TestIMAPPython(t *testing.T) {
	in := newInstance(t, "")
	in.setup()
	in.start()
	in.deliverSMTP(t, "one", "two", "three")
	py := `
typ, data = m.select("INBOX")
assert typ == "OK" and data == [b"3"], data
typ, data = m.search(None, "SUBJECT", "two")
assert data == [b"2"], data
typ, data = m.fetch("2", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
assert b"Subject: two" in data[0][1], data
m.store("1", "+FLAGS", "\\Seen \\Flagged")
typ, data = m.fetch("1", "(FLAGS)")
assert b"\\Seen" in data[0] and b"\\Flagged" in data[0], data
typ, data = m.append("Drafts", "(\\Draft)", None, b"Subject: draft\r\n\r\nunfinished\r\n")
assert typ == "OK" and b"APPENDUID" in data[0], data
typ, data = m.copy("2:3", "Archive")
assert typ == "OK", data
m.store("3", "+FLAGS", "\\Deleted")
typ, data = m.expunge()
assert data == [b"3"], data
typ, data = m.status("Archive", "(MESSAGES UIDNEXT)")
assert b"MESSAGES 2" in data[0], data
m.logout()
print("python imaplib ok")
`
	out := in.pythonIMAP(t, py)
	if !strings.Contains(out, "python imaplib ok") {
		t.Fatal(out)
	}
	if got := in.messages("INBOX"); len(got) != 2 {
		t.Fatalf("INBOX has %d messages after EXPUNGE", len(got))
	}
	if got := in.messages("Archive"); len(got) != 2 || !strings.Contains(got[1], "Subject: three") {
		t.Fatalf("Archive = %q", got)
	}
	if got := in.messages("Drafts"); len(got) != 1 || !strings.HasSuffix(got[0], "unfinished\r\n") {
		t.Fatalf("Drafts = %q", got)
	}
}

// maildirFiles lists the message files of a maildir folder.
func maildirFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, sub := range []string{"cur", "new"} {
		ents, _ := os.ReadDir(filepath.Join(dir, sub))
		for _, e := range ents {
			out = append(out, filepath.Join(dir, sub, e.Name()))
		}
	}
	return out
}

// TestMbsync syncs a mailbox both ways with mbsync (isync), then checks
// that a second sync changes nothing.
func TestMbsync(t *testing.T) {
	in := newInstance(t, "")
	in.setup()
	in.start()
	in.deliverSMTP(t, "alpha", "beta", "gamma")
	home := t.TempDir()
	local := filepath.Join(home, "mail")
	os.MkdirAll(local, 0o700)
	host, port, _ := strings.Cut(in.ports["imaps"], ":")
	rc := filepath.Join(home, "mbsyncrc")
	os.WriteFile(rc, []byte(fmt.Sprintf(`IMAPAccount postel
Host %s
Port %s
User alice@example.org
Pass "%s"
SSLType IMAPS
CertificateFile %s

IMAPStore remote
Account postel

MaildirStore local
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel sync
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState *
`, host, port, alicePassword, filepath.Join(in.dir, "data", "tls", "selfsigned.crt"), local, local)), 0o600)
	sync := func() string {
		t.Helper()
		cmd := exec.Command("mbsync", "-c", rc, "-a")
		cmd.Env = append(os.Environ(), "HOME="+home)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("mbsync: %v\n%s", err, out)
		}
		return string(out)
	}
	if _, err := exec.LookPath("mbsync"); err != nil {
		t.Fatal("mbsync is not installed: run ./scripts/test.sh, which installs isync")
	}
	sync()
	inbox := filepath.Join(local, "INBOX")
	files := maildirFiles(t, inbox)
	if len(files) != 3 {
		t.Fatalf("after the first sync the local INBOX has %d messages", len(files))
	}
	for _, mb := range []string{"Sent", "Drafts", "Trash", "Junk", "Archive"} {
		if _, err := os.Stat(filepath.Join(local, mb)); err != nil {
			t.Errorf("mailbox %s not created locally: %v", mb, err)
		}
	}
	// Local changes: mark one message seen and flagged, add one new one.
	var renamed bool
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if strings.Contains(string(b), "Subject: alpha") {
			base := filepath.Base(f)
			if i := strings.Index(base, ":2,"); i >= 0 {
				base = base[:i]
			}
			if err := os.Rename(f, filepath.Join(inbox, "cur", base+":2,FS")); err != nil {
				t.Fatal(err)
			}
			renamed = true
		}
	}
	if !renamed {
		t.Fatal("alpha not found locally")
	}
	os.WriteFile(filepath.Join(inbox, "new", "1700000000.local.test"), []byte("From: alice@example.org\r\nSubject: written offline\r\n\r\nhello\r\n"), 0o600)
	sync()
	got := in.messages("INBOX")
	if len(got) != 4 || !strings.Contains(got[3], "Subject: written offline") {
		t.Fatalf("server INBOX after the upload: %d messages", len(got))
	}
	flags := in.flags("INBOX")
	if !strings.Contains(flags[0], `\Seen`) || !strings.Contains(flags[0], `\Flagged`) {
		t.Fatalf("flags of alpha on the server: %v", flags)
	}
	// A third sync changes nothing on either side.
	before := in.state("INBOX")
	localBefore := maildirFiles(t, inbox)
	sync()
	if after := in.state("INBOX"); after != before {
		t.Fatalf("a sync without changes changed the server: %s -> %s", before, after)
	}
	if localAfter := maildirFiles(t, inbox); strings.Join(localAfter, "\n") != strings.Join(localBefore, "\n") {
		t.Fatalf("a sync without changes changed the maildir:\n%v\n%v", localBefore, localAfter)
	}
}
