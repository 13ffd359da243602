package imapserver

import (
	"context"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"postel/internal/store"
	"postel/internal/testutil"
	"postel/internal/testutil/accounts"
)

// External clients: curl and mbsync (isync) must be installed; the tests
// fail without them.

// writeCA writes the test certificate as a PEM file for external clients.
func writeCA(t *testing.T) string {
	t.Helper()
	cert, err := accounts.Cert()
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Leaf.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return ca
}

func lookPath(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is needed for this test: %v", name, err)
	}
	return p
}

// TestCurl lists mailboxes, fetches a message and searches with curl's
// IMAP client (STARTTLS required).
func TestCurl(t *testing.T) {
	curl := lookPath(t, "curl")
	h := newHarness(t, func(c *Config) { c.AllowPlaintextLoopback = false })
	h.put(h.alice, "INBOX", testMsg)
	h.put(h.alice, "INBOX", testutil.CRLF("Subject: other\n\nnothing\n"))
	ca := writeCA(t)
	_, port, _ := net.SplitHostPort(h.addr)
	base := "imap://localhost:" + port + "/"
	run := func(url string, extra ...string) string {
		t.Helper()
		args := append([]string{"-sS", "--ssl-reqd", "--cacert", ca, "-u", "alice@example.org:" + alicePass, url}, extra...)
		out, err := exec.Command(curl, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("curl %s: %v\n%s", url, err, out)
		}
		return string(out)
	}
	if got := run(base); !strings.Contains(got, `* LIST (\HasNoChildren) "/" INBOX`) || !strings.Contains(got, `"Sent"`) {
		t.Errorf("curl list:\n%s", got)
	}
	if got := run(base + "INBOX;UID=1"); got != testMsg {
		t.Errorf("curl fetch: %q", got)
	}
	if got := run(base+"INBOX", "-X", "SEARCH SUBJECT other"); strings.TrimSpace(got) != "* SEARCH 2" {
		t.Errorf("curl search: %q", got)
	}
}

// TestMbsync syncs INBOX and Archive both ways with mbsync: server
// messages come down, local additions, flag changes and deletions go up,
// server changes come down again, and a sync after a sync changes
// nothing on either side.
func TestMbsync(t *testing.T) {
	mbsync := lookPath(t, "mbsync")
	h := newHarness(t, func(c *Config) { c.AllowPlaintextLoopback = false })
	for i := 0; i < 3; i++ {
		h.put(h.alice, "INBOX", strings.Replace(testMsg, "Hello there", fmt.Sprintf("Hello %d", i), 1))
	}
	h.put(h.alice, "Archive", testMsg, store.FlagSeen)
	ca := writeCA(t)
	dir := t.TempDir()
	local := filepath.Join(dir, "mail")
	if err := os.Mkdir(local, 0o700); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(h.addr)
	cfg := filepath.Join(dir, "mbsyncrc")
	conf := fmt.Sprintf(`IMAPAccount alice
Host localhost
Port %s
User alice@example.org
Pass "%s"
SSLType STARTTLS
CertificateFile %s
AuthMechs LOGIN

IMAPStore remote
Account alice

MaildirStore local
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel alice
Far :remote:
Near :local:
Patterns INBOX Archive
Create Both
Expunge Both
SyncState *
Sync All
`, port, alicePass, ca, local, local)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	sync := func() {
		t.Helper()
		out, err := exec.Command(mbsync, "-c", cfg, "-a").CombinedOutput()
		if err != nil {
			t.Fatalf("mbsync: %v\n%s", err, out)
		}
	}
	files := func(box string) []string {
		t.Helper()
		var out []string
		for _, sub := range []string{"cur", "new"} {
			es, _ := os.ReadDir(filepath.Join(local, box, sub))
			for _, e := range es {
				out = append(out, filepath.Join(sub, e.Name()))
			}
		}
		slices.Sort(out)
		return out
	}
	type state struct {
		inbox, archive []string // local files
		hms            uint64   // server INBOX HIGHESTMODSEQ
		uids           []uint32
	}
	snapshot := func() state {
		var uids []uint32
		for _, m := range h.messages(h.alice, "INBOX") {
			uids = append(uids, m.UID)
		}
		return state{files("INBOX"), files("Archive"), h.mailbox(h.alice, "INBOX").HighestModSeq, uids}
	}
	same := func(a, b state) bool {
		return slices.Equal(a.inbox, b.inbox) && slices.Equal(a.archive, b.archive) && a.hms == b.hms && slices.Equal(a.uids, b.uids)
	}

	sync()
	if got := files("INBOX"); len(got) != 3 {
		t.Fatalf("after the first sync, local INBOX has %v", got)
	}
	if got := files("Archive"); len(got) != 1 || !strings.HasSuffix(got[0], "S") {
		t.Fatalf("local Archive %v, want one seen message", got)
	}

	// Local changes: a new message, a message flagged, one deleted.
	in := files("INBOX")
	if err := os.WriteFile(filepath.Join(local, "INBOX", "new", "1700000000.local.test"), []byte(testutil.CRLF("Subject: written locally\n\nlocal\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	flagged := in[0]
	base, _, _ := strings.Cut(flagged, ":2,")
	if err := os.Rename(filepath.Join(local, "INBOX", flagged), filepath.Join(local, "INBOX", base+":2,F")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(local, "INBOX", in[1])); err != nil {
		t.Fatal(err)
	}
	sync()
	msgs := h.messages(h.alice, "INBOX")
	var flaggedOn, subjects int
	for _, m := range msgs {
		if slices.Contains(m.Flags, store.FlagFlagged) {
			flaggedOn++
		}
	}
	metas, err := h.st.MessageMetas(context.Background(), h.alice.ID, h.mailbox(h.alice, "INBOX").ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range metas {
		if m.Subject == "written locally" {
			subjects++
		}
	}
	if len(msgs) != 3 || flaggedOn != 1 || subjects != 1 {
		t.Fatalf("server INBOX after the local changes: %d messages, %d flagged, %d uploaded: %+v", len(msgs), flaggedOn, subjects, msgs)
	}

	// A sync after a sync changes nothing.
	before := snapshot()
	sync()
	if after := snapshot(); !same(before, after) {
		t.Fatalf("second sync changed things:\n%+v\n%+v", before, after)
	}

	// Server changes come down: a delivery and a flag.
	h.deliverSMTP(h.alice, testMsg)
	if _, err := h.st.StoreFlags(context.Background(), h.alice.ID, h.mailbox(h.alice, "INBOX").ID, []uint32{msgs[0].UID}, store.FlagsAdd, []string{store.FlagAnswered}, 0); err != nil {
		t.Fatal(err)
	}
	sync()
	got := files("INBOX")
	answered := 0
	for _, f := range got {
		if _, fl, _ := strings.Cut(f, ":2,"); strings.Contains(fl, "R") {
			answered++
		}
	}
	if len(got) != 4 || answered != 1 {
		t.Fatalf("local INBOX after server changes: %v", got)
	}
	before = snapshot()
	sync()
	if after := snapshot(); !same(before, after) {
		t.Fatalf("sync after sync changed things:\n%+v\n%+v", before, after)
	}
}
