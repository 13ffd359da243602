package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The store's durable change feed, end to end: an admin command that cannot
// reach the server's control socket works on the store directly, in its own
// process; its changes still reach the server's open IMAP sessions, which
// follow the feed.

// hideControl moves the running server's control socket away, so that admin
// commands find no server to talk to and open the store themselves.
func (in *instance) hideControl(t *testing.T) {
	t.Helper()
	sock := filepath.Join(in.dir, "data", "control.sock")
	if err := os.Rename(sock, filepath.Join(in.dir, "control.sock.hidden")); err != nil {
		t.Fatal(err)
	}
}

// notThroughSocket checks the server did not run the admin command itself.
func (in *instance) notThroughSocket(t *testing.T, command string) {
	t.Helper()
	for _, l := range strings.Split(in.stderr.String(), "\n") {
		if strings.Contains(l, `msg="admin command"`) && strings.Contains(l, `command="`+command+`"`) {
			t.Fatalf("%q went through the control socket after all: %s", command, l)
		}
	}
}

// TestFeedDirectMailboxDelete: mailbox delete run on the store beside the
// server ends the IMAP session that has the mailbox selected; another
// session sees the mailbox gone.
func TestFeedDirectMailboxDelete(t *testing.T) {
	in := newInstance(t, "")
	in.setup()
	in.admin("", "mailbox", "create", "alice@example.org", "Projects")
	in.start()
	idler, other := in.projectsSessions(t)
	in.hideControl(t)
	start := time.Now()
	out := in.admin("", "mailbox", "delete", "alice@example.org", "Projects")
	if !strings.Contains(out, "working on the store directly") || !strings.Contains(out, "deleted Projects of alice@example.org") {
		t.Fatalf("mailbox delete printed %q", out)
	}
	idler.ended(t, "* BYE Selected mailbox was deleted", start)
	in.notThroughSocket(t, "mailbox delete")
	other.lacksMailbox(t, "Projects")
}

// TestFeedDirectUserDel: user del run on the store beside the server ends
// the account's IDLE session with a BYE.
func TestFeedDirectUserDel(t *testing.T) {
	in := newInstance(t, "")
	in.setup()
	in.start()
	alice := in.aliceIMAP(t)
	alice.idleIn(t, "INBOX")
	in.hideControl(t)
	start := time.Now()
	if out := in.admin("", "user", "del", "alice@example.org"); !strings.Contains(out, "deleted alice@example.org\n") {
		t.Fatalf("user del printed %q", out)
	}
	alice.ended(t, "* BYE Account deleted", start)
	in.notThroughSocket(t, "user del")
}
