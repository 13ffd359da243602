package test

import (
	"crypto/tls"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"postel/internal/testutil/pgtest"
)

// inboxState is what an IMAP client remembers of alice's INBOX.
type inboxState struct {
	uidValidity   uint32
	uidNext       uint32
	highestModSeq uint64
	flags         map[imap.UID]string // UID -> sorted flags
}

// readInbox logs in as alice and selects INBOX with CONDSTORE.
func readInbox(t *testing.T, in *instance, change func(c *imapclient.Client)) inboxState {
	t.Helper()
	c, err := imapclient.DialTLS(in.ports["imaps"], &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("alice@example.org", alicePassword).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", &imap.SelectOptions{CondStore: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	if change != nil {
		change(c)
	}
	sel, err := c.Select("INBOX", &imap.SelectOptions{CondStore: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	st := inboxState{uidValidity: sel.UIDValidity, uidNext: uint32(sel.UIDNext), highestModSeq: sel.HighestModSeq, flags: map[imap.UID]string{}}
	if sel.NumMessages > 0 {
		msgs, err := c.Fetch(mustRange(1, sel.NumMessages), &imap.FetchOptions{UID: true, Flags: true}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			var fs []string
			for _, f := range m.Flags {
				// \Recent is the session's (the first to select the
				// mailbox has it), not the mailbox's state.
				if f != `\Recent` {
					fs = append(fs, string(f))
				}
			}
			slices.Sort(fs)
			st.flags[m.UID] = strings.Join(fs, " ")
		}
	}
	c.Logout().Wait()
	return st
}

// TestStoreCopy: a server on SQLite is stopped, postel store copy moves its
// store to PostgreSQL, and a node on that database with the same data dir
// shows the IMAP client nothing new: the same UIDVALIDITY, a QRESYNC
// SELECT with the old HIGHESTMODSEQ reports no change, the same UIDs and
// flags; new mail gets UIDs above the old ones.
func TestStoreCopy(t *testing.T) {
	dsn := pgtest.Shared(t).NewDatabase(t)
	in := newInstance(t, "")
	in.setup()
	in.start()
	in.deliverSMTP(t, "one", "two", "three", "four", "five")
	in.admin("", "dkim", "gen", "example.org")
	before := readInbox(t, in, func(c *imapclient.Client) {
		for _, s := range []struct {
			uids  imap.UIDSet
			flags []imap.Flag
		}{
			{imap.UIDSetNum(1, 2), []imap.Flag{imap.FlagSeen}},
			{imap.UIDSetNum(3), []imap.Flag{imap.FlagFlagged, "$Label1"}},
			{imap.UIDSetNum(4), []imap.Flag{imap.FlagDeleted}},
		} {
			if err := c.Store(s.uids, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: s.flags, Silent: true}, nil).Close(); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Expunge().Close(); err != nil {
			t.Fatal(err)
		}
	})
	if len(before.flags) != 4 || before.flags[3] != `$Label1 \Flagged` || before.uidNext != 6 {
		t.Fatalf("INBOX before the copy: %+v", before)
	}

	// Not while the server runs.
	out, err := in.tryAdmin("", "store", "copy", "--to", dsn)
	if err == nil || !strings.Contains(out, "a server runs on") {
		t.Fatalf("store copy beside a running server: %v\n%s", err, out)
	}
	if err := in.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("postel serve: %v", err)
	}
	out = in.admin("", "store", "copy", "--to", dsn)
	t.Logf("postel store copy:\n%s", out)
	for _, want := range []string{"copied 4 messages", "verified: 1 domains, 1 accounts", "4 messages", "1 expunges",
		"[store]\ndriver = \"postgres\"\ndsn = ", "Copied into the store too: the DKIM keys of example.org and the SRS secret. Every node writes them into its data_dir at its start: nothing to copy by hand."} {
		if !strings.Contains(out, want) {
			t.Fatalf("store copy output lacks %q:\n%s", want, out)
		}
	}
	// Not a terminal: plain progress lines, no bar.
	if strings.Contains(out, "\r[") || !strings.Contains(out, "copied 4/4 messages") {
		t.Fatalf("progress on a pipe:\n%s", out)
	}
	again := in.admin("", "store", "copy", "--to", dsn)
	if !strings.Contains(again, "copied 0 messages") || !strings.Contains(again, "4 messages were there from an earlier run") {
		t.Fatalf("second store copy:\n%s", again)
	}

	// The same data dir, on PostgreSQL.
	in.extra += fmt.Sprintf("[store]\ndriver = \"postgres\"\ndsn = %q\n", dsn)
	in.writeConfig()
	in.start()

	// QRESYNC (RFC 7162 §3.2.5) with what the client knew: nothing
	// vanished, nothing to fetch again.
	raw := dialIMAP(t, in.ports["imaps"], true)
	raw.ok("a", fmt.Sprintf("LOGIN alice@example.org %q", alicePassword))
	raw.ok("b", "ENABLE QRESYNC")
	lines := raw.ok("c", fmt.Sprintf("SELECT INBOX (QRESYNC (%d %d))", before.uidValidity, before.highestModSeq))
	for _, l := range lines {
		if strings.Contains(l, "VANISHED") || strings.Contains(l, "FETCH") {
			t.Fatalf("QRESYNC SELECT after the copy reports changes:\n%s", strings.Join(lines, "\n"))
		}
	}
	all := strings.Join(lines, "\n")
	for _, want := range []string{fmt.Sprintf("[UIDVALIDITY %d]", before.uidValidity), fmt.Sprintf("[HIGHESTMODSEQ %d]", before.highestModSeq),
		fmt.Sprintf("[UIDNEXT %d]", before.uidNext), "* 4 EXISTS"} {
		if !strings.Contains(all, want) {
			t.Fatalf("QRESYNC SELECT lacks %q:\n%s", want, all)
		}
	}
	raw.ok("z", "LOGOUT")

	after := readInbox(t, in, nil)
	if after.uidValidity != before.uidValidity || after.highestModSeq != before.highestModSeq || after.uidNext != before.uidNext ||
		fmt.Sprint(after.flags) != fmt.Sprint(before.flags) {
		t.Fatalf("INBOX after the copy %+v, before %+v", after, before)
	}

	// New mail continues above.
	in.deliverSMTP(t, "six")
	later := readInbox(t, in, nil)
	var newUIDs []imap.UID
	for uid := range later.flags {
		if _, ok := before.flags[uid]; !ok {
			newUIDs = append(newUIDs, uid)
		}
	}
	if len(later.flags) != 5 || len(newUIDs) != 1 || uint32(newUIDs[0]) < before.uidNext || later.highestModSeq <= before.highestModSeq {
		t.Fatalf("after new mail: %+v (before the copy %+v)", later, before)
	}
}

// TestStoreCopyUsage: help at each level, --to required.
func TestStoreCopyUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		has  string
	}{
		{[]string{"store", "--help"}, 0, "store copy"},
		{[]string{"store", "copy", "--help"}, 0, "usage: postel store copy --to DSN"},
		{[]string{"store", "copy"}, 2, "--to DSN is required"},
	} {
		out, code := runPostel(t, "", c.args...)
		if code != c.code || !strings.Contains(string(out), c.has) {
			t.Errorf("postel %v: exit %d, want %d with %q:\n%s", c.args, code, c.code, c.has, out)
		}
	}
}
