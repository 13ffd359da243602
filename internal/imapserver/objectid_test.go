package imapserver

import (
	"context"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"

	"postel/internal/deliver"
	"postel/internal/store"
)

// withObjectIDKey gives a server the key that turns OBJECTID on.
func withObjectIDKey(c *Config) { c.ObjectIDKey = []byte("objectid test key, 32 octets...") }

// objectIDForm is the form of Postel's identifiers: a kind letter, then
// 128 bits in lower-case hex (RFC 8474 §7 objectid, §8.1 advice).
var objectIDForm = regexp.MustCompile(`^[FMT][0-9a-f]{32}$`)

// idIn returns the objectid that follows name+" (" in the lines.
func idIn(t *testing.T, lines []string, name string) string {
	t.Helper()
	re := regexp.MustCompile(regexp.QuoteMeta(name) + ` \(([A-Za-z0-9_-]+)\)`)
	for _, l := range lines {
		if m := re.FindStringSubmatch(l); m != nil {
			if !objectIDForm.MatchString(m[1]) {
				t.Fatalf("%s %q is not of the expected form", name, m[1])
			}
			return m[1]
		}
	}
	t.Fatalf("no %s in %q", name, lines)
	return ""
}

// fetchIDs returns the EMAILID and THREADID of each message of the
// selected mailbox, in order.
func fetchIDs(t *testing.T, r *raw) (emails, threads []string) {
	t.Helper()
	for _, l := range r.cmd("FETCH 1:* (EMAILID THREADID)") {
		if strings.HasPrefix(l, "* ") {
			emails = append(emails, idIn(t, []string{l}, "EMAILID"))
			threads = append(threads, idIn(t, []string{l}, "THREADID"))
		}
	}
	return emails, threads
}

func mustOK(t *testing.T, lines []string) []string {
	t.Helper()
	if !strings.HasPrefix(lines[len(lines)-1], "T OK") {
		t.Fatalf("command failed: %q", lines)
	}
	return lines
}

// TestObjectIDRules checks over TCP the rules of RFC 8474 that a script
// cannot: identifiers that must differ do. A mailbox deleted and created
// again has a new MAILBOXID (§4: never reused); RENAME of INBOX gives the
// new mailbox a new MAILBOXID while INBOX keeps its own, and the moved
// messages keep their EMAILID; a message that arrives later leaves the
// THREADID of earlier ones alone (§5.2); distinct messages have distinct
// EMAILIDs; and the same delivery to two accounts (one stored body) has
// unrelated identifiers in each, so that nothing links accounts.
func TestObjectIDRules(t *testing.T) {
	h := newHarness(t, withObjectIDKey)
	root := "Message-ID: <root@example.org>\r\nSubject: plan\r\n\r\nroot\r\n"
	h.put(h.alice, "INBOX", root)
	h.put(h.alice, "INBOX", "Subject: lone\r\n\r\nno ids at all\r\n")
	// One delivery to alice and bob: one stored body.
	sp, err := h.st.NewSpool()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(sp, "Message-ID: <shared@example.org>\r\nSubject: both\r\n\r\nfor both\r\n")
	if err := sp.Finish(); err != nil {
		t.Fatal(err)
	}
	if _, err := deliver.Deliver(context.Background(), h.st, deliver.Incoming{Spool: sp, Local: []store.Account{h.alice, h.bob}}); err != nil {
		t.Fatal(err)
	}
	aliceMsgs, bobMsgs := h.messages(h.alice, "INBOX"), h.messages(h.bob, "INBOX")
	if aliceMsgs[2].BlobID != bobMsgs[0].BlobID {
		t.Fatalf("the shared delivery has blobs %d and %d", aliceMsgs[2].BlobID, bobMsgs[0].BlobID)
	}

	r := h.login()
	caps := strings.Join(r.cmd("CAPABILITY"), " ")
	if !strings.Contains(caps, " OBJECTID") {
		t.Fatalf("OBJECTID not advertised: %s", caps)
	}
	a1 := idIn(t, mustOK(t, r.cmd("CREATE A")), "MAILBOXID")
	mustOK(t, r.cmd("DELETE A"))
	a2 := idIn(t, mustOK(t, r.cmd("CREATE A")), "MAILBOXID")
	b := idIn(t, mustOK(t, r.cmd("CREATE B")), "MAILBOXID")
	if a1 == a2 || a2 == b {
		t.Errorf("MAILBOXIDs: A %s, A again %s, B %s", a1, a2, b)
	}

	sel := mustOK(t, r.cmd("SELECT INBOX"))
	inbox := idIn(t, sel, "MAILBOXID")
	emails, threads := fetchIDs(t, r)
	if len(emails) != 3 || emails[0] == emails[1] || emails[1] == emails[2] || emails[0] == emails[2] {
		t.Fatalf("EMAILIDs %q", emails)
	}
	if threads[0] == threads[1] || threads[1] == threads[2] || slices.Contains(emails, threads[0]) {
		t.Fatalf("THREADIDs %q (EMAILIDs %q)", threads, emails)
	}
	// A reply arrives: it joins the root's thread, which does not change.
	h.put(h.alice, "INBOX", "Message-ID: <reply@example.org>\r\nIn-Reply-To: <root@example.org>\r\nReferences: <root@example.org>\r\nSubject: Re: plan\r\n\r\nok\r\n")
	mustOK(t, r.cmd("NOOP"))
	emails2, threads2 := fetchIDs(t, r)
	if len(emails2) != 4 || !slices.Equal(emails2[:3], emails) || !slices.Equal(threads2[:3], threads) || threads2[3] != threads[0] {
		t.Fatalf("after a reply: EMAILIDs %q, THREADIDs %q; before %q, %q", emails2, threads2, emails, threads)
	}
	mustOK(t, r.cmd("UNSELECT"))

	// RENAME INBOX: a new mailbox with a new MAILBOXID holds the messages,
	// with their EMAILIDs; INBOX keeps its MAILBOXID.
	mustOK(t, r.cmd("RENAME INBOX Old"))
	old := idIn(t, mustOK(t, r.cmd("STATUS Old (MAILBOXID)")), "MAILBOXID")
	if again := idIn(t, mustOK(t, r.cmd("STATUS INBOX (MAILBOXID)")), "MAILBOXID"); again != inbox || old == inbox {
		t.Errorf("after RENAME INBOX: INBOX %s (was %s), Old %s", again, inbox, old)
	}
	mustOK(t, r.cmd("EXAMINE Old"))
	moved, movedThreads := fetchIDs(t, r)
	if !slices.Equal(moved, emails2) || !slices.Equal(movedThreads, threads2) {
		t.Errorf("moved by RENAME INBOX: EMAILIDs %q, THREADIDs %q; were %q, %q", moved, movedThreads, emails2, threads2)
	}

	// Bob: the same body, the same Message-ID, his own identifiers.
	rb := h.dial(h.addr)
	rb.send(`L LOGIN bob@example.org "` + bobPass + `"`)
	rb.until("L ")
	bobInbox := idIn(t, mustOK(t, rb.cmd("SELECT INBOX")), "MAILBOXID")
	bobEmails, bobThreads := fetchIDs(t, rb)
	if bobInbox == inbox || len(bobEmails) != 1 || bobEmails[0] == emails[2] || bobThreads[0] == threads[2] {
		t.Errorf("bob: INBOX %s, EMAILID %q, THREADID %q; alice: %s, %s, %s", bobInbox, bobEmails, bobThreads, inbox, emails[2], threads[2])
	}
	// Alice's identifiers find nothing of bob's.
	if got := rb.cmd("SEARCH OR EMAILID " + emails[2] + " THREADID " + threads[2]); got[0] != "* SEARCH" {
		t.Errorf("bob's search for alice's ids: %q", got)
	}
}

// TestObjectIDOff: without a key the server neither advertises OBJECTID
// nor answers its items: they are unknown (BAD), and SELECT and CREATE
// carry no MAILBOXID.
func TestObjectIDOff(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxCommandErrors = 20 })
	h.put(h.alice, "INBOX", "Subject: x\r\n\r\nbody\r\n")
	r := h.login()
	if caps := strings.Join(r.cmd("CAPABILITY"), " "); strings.Contains(caps, "OBJECTID") || !strings.Contains(caps, " PREVIEW") {
		t.Fatalf("capabilities: %s", caps)
	}
	if got := r.cmd("CREATE A"); got[0] != "T OK CREATE completed" {
		t.Errorf("CREATE: %q", got)
	}
	if got := strings.Join(r.cmd("SELECT INBOX"), "\n"); strings.Contains(got, "MAILBOXID") {
		t.Errorf("SELECT: %s", got)
	}
	for _, c := range []string{"FETCH 1 (EMAILID)", "UID FETCH 1 THREADID", "SEARCH EMAILID M1", "SORT (DATE) UTF-8 THREADID T1",
		"STATUS INBOX (MAILBOXID)", `LIST "" INBOX RETURN (STATUS (MAILBOXID))`} {
		if got := r.cmd(c); len(got) != 1 || !strings.HasPrefix(got[0], "T BAD ") {
			t.Errorf("%s: %q", c, got)
		}
	}
	if got := r.cmd("FETCH 1 PREVIEW"); got[0] != `* 1 FETCH (PREVIEW "body")` {
		t.Errorf("FETCH PREVIEW: %q", got)
	}
}

// TestObjectIDShared: a mailbox shared with another account (RFC 4314)
// has one MAILBOXID, and its messages one EMAILID and THREADID, whoever
// looks: the owner's (RFC 8474 §4: a MAILBOXID names one mailbox on the
// server; keyed by the viewer, the grantee's could equal one of its own).
func TestObjectIDShared(t *testing.T) {
	h := newHarness(t, withObjectIDKey)
	alice, bob := shareSetup(t, h, "lr")
	mailboxID := func(r *raw, name string) string {
		t.Helper()
		st := r.cmd(`STATUS ` + name + ` (MAILBOXID)`)
		want(t, "STATUS", st, "T OK")
		return st[0][strings.Index(st[0], "(MAILBOXID"):]
	}
	messageIDs := func(r *raw, name string) string {
		t.Helper()
		want(t, "EXAMINE", r.cmd(`EXAMINE `+name), "T OK")
		f := r.cmd(`FETCH 1 (EMAILID THREADID)`)
		want(t, "FETCH", f, "T OK")
		return f[0][strings.Index(f[0], "(EMAILID"):]
	}
	mbA, mbB := mailboxID(alice, "Shared"), mailboxID(bob, sharedShared)
	msgA, msgB := messageIDs(alice, "Shared"), messageIDs(bob, sharedShared)
	if mbA != mbB || msgA != msgB {
		t.Fatalf("the owner sees %s %s, the grantee %s %s", mbA, msgA, mbB, msgB)
	}
	if own := mailboxID(bob, "INBOX"); own == mbB {
		t.Fatalf("bob's INBOX and the shared mailbox have one MAILBOXID %s", own)
	}
}
