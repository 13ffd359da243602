package imapserver

import (
	"bufio"
	"compress/flate"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"postel/internal/store"
	"postel/internal/store/sqlite"
)

// expectLine reads the next line, unasked, and matches it against the
// regular expression want.
func (r *raw) expectLine(want string) string {
	r.t.Helper()
	l := r.line()
	if !regexp.MustCompile(`^` + want + `$`).MatchString(l) {
		r.t.Fatalf("got %q, want /%s/", l, want)
	}
	return l
}

// quiet checks that nothing comes for a while.
func (r *raw) quiet() {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if l, err := r.br.ReadString('\n'); err == nil || l != "" {
		r.t.Fatalf("unexpected %q", l)
	}
}

func appendTo(t *testing.T, r *raw, mailbox, body string) {
	t.Helper()
	body = strings.ReplaceAll(body, "\n", "\r\n")
	r.send("A APPEND " + mailbox + " {" + strconv.Itoa(len(body)) + "+}")
	r.send(body)
	if got := r.until("A "); !strings.HasPrefix(got[len(got)-1], "A OK ") {
		t.Fatalf("APPEND: %q", got)
	}
}

const notifyMsg = "From: bob@example.org\nSubject: hello\n\nhi\n"

// TestNotifyOtherMailbox: a session that asked NOTIFY SET (PERSONAL
// (MessageNew MessageExpunge FlagChange)) is told, while it waits for no
// command and outside IDLE, by STATUS of the APPEND another session made
// into a mailbox it has not selected, of a flag change there, and of the
// expunge (RFC 5465 §5.2-§5.4).
func TestNotifyOtherMailbox(t *testing.T) {
	h := newHarness(t)
	a := h.login()
	if got := a.cmd("NOTIFY SET (PERSONAL (MessageNew MessageExpunge FlagChange))"); got[len(got)-1] != "T OK NOTIFY completed" {
		t.Fatalf("NOTIFY: %q", got)
	}
	b := h.login()
	appendTo(t, b, "Sent", notifyMsg)
	a.expectLine(`\* STATUS "Sent" \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+ UNSEEN 1\)`)
	b.cmd("SELECT Sent")
	b.cmd(`STORE 1 +FLAGS (\Seen)`)
	a.expectLine(`\* STATUS "Sent" \(UIDVALIDITY \d+ UNSEEN 0\)`)
	b.cmd(`STORE 1 +FLAGS (\Deleted)`)
	a.expectLine(`\* STATUS "Sent" \(UIDVALIDITY \d+ UNSEEN 0\)`)
	b.cmd("EXPUNGE")
	a.expectLine(`\* STATUS "Sent" \(MESSAGES 0 UIDNEXT 2 UIDVALIDITY \d+ UNSEEN 0\)`)
	// With CONDSTORE on, HIGHESTMODSEQ comes too.
	a.cmd("ENABLE CONDSTORE")
	appendTo(t, b, "Drafts", notifyMsg)
	a.expectLine(`\* STATUS "Drafts" \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+ UNSEEN 1 HIGHESTMODSEQ \d+\)`)

	// In IDLE too.
	a.send("I IDLE")
	a.expectLine(`\+ .*`)
	appendTo(t, b, "Archive", notifyMsg)
	a.expectLine(`\* STATUS "Archive" \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+ UNSEEN 1 HIGHESTMODSEQ \d+\)`)
	a.send("DONE")
	a.expectLine(`I OK IDLE completed`)

	// NOTIFY NONE: nothing more, not even at the next command.
	if got := a.cmd("NOTIFY NONE"); got[len(got)-1] != "T OK NOTIFY completed" {
		t.Fatalf("NOTIFY NONE: %q", got)
	}
	appendTo(t, b, "Archive", notifyMsg)
	a.quiet()
	if got := a.cmd("NOOP"); len(got) != 1 {
		t.Fatalf("NOOP after NOTIFY NONE: %q", got)
	}
}

// TestNotifyFilters: only the mailboxes of the groups are told of; a
// group with NONE silences its mailboxes even when a later group covers
// them; SUBTREE covers the children, MAILBOXES only the names; NOTIFY SET
// STATUS sends the STATUS of every mailbox covered at once (RFC 5465 §3,
// §6).
func TestNotifyFilters(t *testing.T) {
	h := newHarness(t)
	b := h.login()
	for _, m := range []string{"Lists", "Lists/go", "Other", "Quiet"} {
		b.cmd("CREATE " + m)
		b.cmd("SUBSCRIBE " + m) // CREATE does not subscribe (RFC 3501 §6.3.6)
	}
	a := h.login()
	got := a.cmd("NOTIFY SET STATUS (MAILBOXES Quiet NONE) (SUBTREE Lists (MessageNew MessageExpunge)) (MAILBOXES (Other Quiet) (MessageNew MessageExpunge))")
	want := []string{`\* STATUS "Lists" \(MESSAGES 0 UIDNEXT 1 UIDVALIDITY \d+ UNSEEN 0\)`, `\* STATUS "Lists/go" \(MESSAGES 0 UIDNEXT 1 UIDVALIDITY \d+ UNSEEN 0\)`,
		`\* STATUS "Other" \(MESSAGES 0 UIDNEXT 1 UIDVALIDITY \d+ UNSEEN 0\)`, `T OK NOTIFY completed`}
	if len(got) != len(want) {
		t.Fatalf("NOTIFY SET STATUS: %q", got)
	}
	for i := range want {
		if !regexp.MustCompile(`^` + want[i] + `$`).MatchString(got[i]) {
			t.Fatalf("NOTIFY SET STATUS line %d: %q, want /%s/", i, got[i], want[i])
		}
	}
	appendTo(t, b, "Quiet", notifyMsg)
	appendTo(t, b, "INBOX", notifyMsg)
	appendTo(t, b, "Lists/go", notifyMsg)
	a.expectLine(`\* STATUS "Lists/go" \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+ UNSEEN 1\)`)
	appendTo(t, b, "Other", notifyMsg)
	a.expectLine(`\* STATUS "Other" \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+ UNSEEN 1\)`)
	a.quiet()

	// INBOXES: INBOX (and Junk), not the others.
	a.cmd("NOTIFY SET (INBOXES (MessageNew MessageExpunge))")
	appendTo(t, b, "Other", notifyMsg)
	appendTo(t, b, "INBOX", notifyMsg)
	a.expectLine(`\* STATUS INBOX \(MESSAGES 2 UIDNEXT 3 UIDVALIDITY \d+ UNSEEN 2\)`)
	a.quiet()

	// SUBSCRIBED: the subscribed mailboxes, as they are when the event
	// comes; their subscription changes either way.
	b.cmd("UNSUBSCRIBE Other")
	a.cmd("NOTIFY SET (SUBSCRIBED (MessageNew MessageExpunge SubscriptionChange MailboxName))")
	appendTo(t, b, "Other", notifyMsg)
	appendTo(t, b, "Lists", notifyMsg)
	a.expectLine(`\* STATUS "Lists" \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+ UNSEEN 1\)`)
	a.quiet()
	b.cmd("SUBSCRIBE Other")
	a.expectLine(`\* LIST \(\\Subscribed\) "/" "Other"`)
	appendTo(t, b, "Other", notifyMsg)
	a.expectLine(`\* STATUS "Other" \(MESSAGES 4 UIDNEXT 5 UIDVALIDITY \d+ UNSEEN 4\)`)
	b.cmd("UNSUBSCRIBE Other")
	a.expectLine(`\* LIST \(\) "/" "Other"`)
	// A new mailbox is not subscribed (CREATE does not subscribe, RFC
	// 3501 §6.3.6), so SUBSCRIBED says nothing of it.
	b.cmd("CREATE Fresh")
	a.quiet()
}

// TestNotifySelected: under SELECTED the selected mailbox's new messages
// come at once, with EXISTS and the FETCH of MessageNew's attributes, and
// its expunges too (RFC 5465 §5.2, §6.1); under SELECTED-DELAYED they wait
// for a command, or IDLE (§6.2). Other mailboxes' events never tell of
// the selected one by STATUS.
func TestNotifySelected(t *testing.T) {
	h := newHarness(t)
	a := h.login()
	// IMAP4rev2: no \Recent, which b's session may claim first.
	a.cmd("ENABLE IMAP4rev2")
	a.cmd("SELECT INBOX")
	if got := a.cmd("NOTIFY SET (SELECTED (MessageNew (UID FLAGS BODY.PEEK[HEADER.FIELDS (Subject)]) MessageExpunge)) (PERSONAL (MessageNew MessageExpunge))"); got[len(got)-1] != "T OK NOTIFY completed" {
		t.Fatalf("NOTIFY: %q", got)
	}
	b := h.login()
	appendTo(t, b, "INBOX", notifyMsg)
	a.expectLine(`\* 1 EXISTS`)
	a.expectLine(`\* 1 FETCH \(UID 1 FLAGS \(\) BODY\[HEADER\.FIELDS \(Subject\)\] \{18\}`)
	a.expectLine(`Subject: hello`)
	a.expectLine(``)
	a.expectLine(`\)`)
	// Not marked \Seen by the FETCH.
	if got := a.cmd("FETCH 1 FLAGS"); got[0] != `* 1 FETCH (FLAGS ())` {
		t.Fatalf("flags after the notification: %q", got)
	}
	b.cmd("SELECT INBOX")
	b.cmd(`STORE 1 +FLAGS.SILENT (\Deleted)`)
	b.cmd("EXPUNGE")
	a.expectLine(`\* 1 EXPUNGE`)
	a.quiet()

	// FlagChange: FETCH with UID and FLAGS, at once (§5.4).
	a.cmd("NOTIFY SET (SELECTED (MessageNew MessageExpunge FlagChange))")
	appendTo(t, b, "INBOX", notifyMsg)
	a.expectLine(`\* 1 EXISTS`)
	b.cmd(`STORE 1 +FLAGS.SILENT (\Flagged)`)
	a.expectLine(`\* 1 FETCH \(UID 2 FLAGS \(\\Flagged\)\)`)
	b.cmd(`STORE 1 +FLAGS.SILENT (\Deleted)`)
	a.expectLine(`\* 1 FETCH \(UID 2 FLAGS \(\\Deleted \\Flagged\)\)`)
	b.cmd("EXPUNGE")
	a.expectLine(`\* 1 EXPUNGE`)

	// SELECTED-DELAYED: at the next command, or in IDLE.
	a.cmd("NOTIFY SET (SELECTED-DELAYED (MessageNew MessageExpunge)) (PERSONAL (MessageNew MessageExpunge))")
	appendTo(t, b, "INBOX", notifyMsg)
	a.quiet()
	got := a.cmd("NOOP")
	if len(got) != 2 || got[0] != "* 1 EXISTS" {
		t.Fatalf("NOOP: %q", got)
	}
	appendTo(t, b, "INBOX", notifyMsg)
	a.quiet()
	a.send("I IDLE")
	a.expectLine(`\+ .*`)
	a.expectLine(`\* 2 EXISTS`)
	a.send("DONE")
	a.expectLine(`I OK IDLE completed`)
}

// TestNotifyMailboxEvents: MailboxName (LIST of a new name, with OLDNAME
// for a rename, \NonExistent for a deletion), SubscriptionChange,
// MailboxMetadataChange and ServerMetadataChange (METADATA naming the
// entries, without values) of another session's commands (RFC 5465
// §5.5-§5.8, RFC 5464 §4.4.2).
func TestNotifyMailboxEvents(t *testing.T) {
	h := newHarness(t)
	a := h.login()
	if got := a.cmd("NOTIFY SET (PERSONAL (MailboxName SubscriptionChange MailboxMetadataChange ServerMetadataChange))"); got[len(got)-1] != "T OK NOTIFY completed" {
		t.Fatalf("NOTIFY: %q", got)
	}
	b := h.login()
	b.cmd("CREATE New")
	a.expectLine(`\* LIST \(\) "/" "New"`)
	b.cmd("RENAME New Newer")
	a.expectLine(`\* LIST \(\) "/" "Newer" \("OLDNAME" \("New"\)\)`)
	b.cmd("SUBSCRIBE Newer")
	a.expectLine(`\* LIST \(\\Subscribed\) "/" "Newer"`)
	b.cmd("UNSUBSCRIBE Newer")
	a.expectLine(`\* LIST \(\) "/" "Newer"`)
	b.cmd(`SETMETADATA Newer (/private/comment "x" /shared/comment "y")`)
	a.expectLine(`\* METADATA "Newer" /private/comment /shared/comment`)
	b.cmd(`SETMETADATA Newer (/private/comment NIL)`)
	a.expectLine(`\* METADATA "Newer" /private/comment`)
	b.cmd(`SETMETADATA "" (/shared/comment "server")`)
	a.expectLine(`\* METADATA "" /shared/comment`)
	b.cmd("DELETE Newer")
	a.expectLine(`\* LIST \(\\NonExistent\) "/" "Newer"`)
	// Message events were not asked for.
	appendTo(t, b, "INBOX", notifyMsg)
	a.quiet()
}

// resyncStore is h.st whose subscription number victim (counted from 1
// as they are made) reports a lost stretch of the change feed
// (store.ChangeResync) at its next changes.
type resyncStore struct {
	*sqlite.Store
	subs, victim *atomic.Int32
}

func (s resyncStore) Subscribe(accountID int64) store.Subscription {
	return resyncSub{s.Store.Subscribe(accountID), s.subs.Add(1), s.victim}
}

type resyncSub struct {
	store.Subscription
	n      int32
	victim *atomic.Int32
}

func (s resyncSub) Next() []store.Change {
	cs := s.Subscription.Next()
	if len(cs) > 0 && s.victim.CompareAndSwap(s.n, 0) {
		cs = append(cs, store.Change{AccountID: cs[0].AccountID, Kind: store.ChangeResync})
	}
	return cs
}

// TestNotifyOverflow: when the session's feed lost changes, NOTIFY says
// [NOTIFICATIONOVERFLOW] and sends no more events until the next NOTIFY
// (RFC 5465 §5.8).
func TestNotifyOverflow(t *testing.T) {
	h := newHarness(t)
	subs, victim := &atomic.Int32{}, &atomic.Int32{}
	a := h.loginThrough(resyncStore{h.st, subs, victim}, nil)
	a.cmd("NOTIFY SET (PERSONAL (MessageNew MessageExpunge))")
	victim.Store(subs.Load()) // NOTIFY's, the latest
	h.put(h.alice, "Sent", "Subject: x\r\n\r\nx\r\n")
	a.expectLine(`\* OK \[NOTIFICATIONOVERFLOW\] .*`)
	h.put(h.alice, "Sent", "Subject: x\r\n\r\nx\r\n")
	a.quiet()
	a.cmd("NOTIFY SET (PERSONAL (MessageNew MessageExpunge))")
	h.put(h.alice, "Sent", "Subject: x\r\n\r\nx\r\n")
	a.expectLine(`\* STATUS "Sent" \(MESSAGES 3 UIDNEXT 4 UIDVALIDITY \d+ UNSEEN 3\)`)
}

// TestNotifyCompressed: with COMPRESS DEFLATE active (RFC 4978), the
// events NOTIFY sends while the session waits for a command reach the
// client at once (each flushed through the compressor), and commands read
// after them still parse.
func TestNotifyCompressed(t *testing.T) {
	h := newHarness(t)
	r := h.login()
	r.send("z COMPRESS DEFLATE")
	if l := r.line(); l != "z OK DEFLATE active" {
		t.Fatalf("COMPRESS: %q", l)
	}
	zr := bufio.NewReader(flate.NewReader(r.br))
	zw, err := flate.NewWriter(r.c, flate.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	send := func(l string) {
		t.Helper()
		io.WriteString(zw, l+"\r\n")
		if err := zw.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	read := func() string {
		t.Helper()
		r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		l, err := zr.ReadString('\n')
		if err != nil {
			t.Fatalf("reading a compressed response: %v (got %q)", err, l)
		}
		return strings.TrimSuffix(l, "\r\n")
	}
	send("n NOTIFY SET (PERSONAL (MessageNew MessageExpunge))")
	if l := read(); l != "n OK NOTIFY completed" {
		t.Fatalf("NOTIFY: %q", l)
	}
	for i := 1; i <= 2; i++ {
		h.put(h.alice, "Archive", testMsg)
		want := `^\* STATUS "Archive" \(MESSAGES ` + strconv.Itoa(i) + ` UIDNEXT ` + strconv.Itoa(i+1) + ` UIDVALIDITY \d+ UNSEEN ` + strconv.Itoa(i) + `\)$`
		if l := read(); !regexp.MustCompile(want).MatchString(l) {
			t.Fatalf("event %d: %q", i, l)
		}
	}
	send("a NOOP")
	if l := read(); l != "a OK NOOP completed" {
		t.Fatalf("NOOP: %q", l)
	}
}
