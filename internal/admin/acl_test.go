package admin

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"postel/internal/store"
)

// TestACLCommands: mailbox share sets a grantee's rights (replacing what
// it had, c and d read as IMAP SETACL reads them), anyone included;
// mailbox acl lists the owner first with every right, then the entries;
// mailbox unshare removes the grantee's entries, also one taking rights
// away that IMAP set.
func TestACLCommands(t *testing.T) {
	a, st, _ := newAdmin(t)
	if _, err := a.CreateMailbox(ctx, "alice@example.org", "Projects"); err != nil {
		t.Fatal(err)
	}
	acl := func(name string, args ACLArgs) string {
		t.Helper()
		out, err := exec(t, a, name, args)
		if err != nil {
			t.Fatalf("%s %+v: %v", name, args, err)
		}
		return out
	}
	if got := acl("mailbox acl", ACLArgs{Account: "Alice@Example.org", Name: "Projects"}); got !=
		`{"account":"alice@example.org","mailbox":"Projects","entries":[{"identifier":"alice@example.org","rights":"lrswipkxtea"}]}` {
		t.Fatalf("mailbox acl of an unshared mailbox = %s", got)
	}
	acl("mailbox share", ACLArgs{Account: "alice@example.org", Name: "Projects", Grantee: "Bob@Example.ORG", Rights: "rlw"})
	acl("mailbox share", ACLArgs{Account: "alice@example.org", Name: "Projects", Grantee: "ANYONE", Rights: "l"})
	got := acl("mailbox share", ACLArgs{Account: "alice@example.org", Name: "Projects", Grantee: "bob@example.org", Rights: "lrcd"})
	want := `{"account":"alice@example.org","mailbox":"Projects","entries":[{"identifier":"alice@example.org","rights":"lrswipkxtea"},` +
		`{"identifier":"anyone","rights":"l"},{"identifier":"bob@example.org","rights":"lrkxte"}]}`
	if got != want {
		t.Fatalf("after sharing:\n got %s\nwant %s", got, want)
	}
	if l := acl("mailbox acl", ACLArgs{Account: "alice@example.org", Name: "Projects"}); l != want {
		t.Fatalf("mailbox acl = %s, want %s", l, want)
	}
	// What the store holds is what IMAP reads: bob finds Projects shared.
	shared, err := st.SharedWith(ctx, mustAccount(t, st, "bob@example.org").ID)
	if err != nil || len(shared) != 1 || shared[0].Name != "Projects" || shared[0].Owner != "alice@example.org" {
		t.Fatalf("SharedWith bob = %+v, %v", shared, err)
	}

	// A negative entry for bob, as IMAP SETACL -bob@example.org sets it:
	// listed with its "-", and removed by unshare with the positive one.
	alice := mustAccount(t, st, "alice@example.org")
	m, err := st.Mailbox(ctx, alice.ID, "Projects")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetACL(ctx, alice.ID, m.ID, store.ACLEntry{Identifier: "bob@example.org", Negative: true, Rights: "w"}); err != nil {
		t.Fatal(err)
	}
	if l := acl("mailbox acl", ACLArgs{Account: "alice@example.org", Name: "Projects"}); !strings.Contains(l, `{"identifier":"-bob@example.org","rights":"w"}`) {
		t.Fatalf("mailbox acl with a negative entry = %s", l)
	}
	got = acl("mailbox unshare", ACLArgs{Account: "alice@example.org", Name: "Projects", Grantee: "bob@example.org"})
	want = `{"account":"alice@example.org","mailbox":"Projects","entries":[{"identifier":"alice@example.org","rights":"lrswipkxtea"},` +
		`{"identifier":"anyone","rights":"l"}]}`
	if got != want {
		t.Fatalf("after unshare bob:\n got %s\nwant %s", got, want)
	}
	acl("mailbox unshare", ACLArgs{Account: "alice@example.org", Name: "Projects", Grantee: "anyone"})
	if entries, err := st.MailboxACL(ctx, alice.ID, m.ID); err != nil || len(entries) != 0 {
		t.Fatalf("entries after unsharing all: %+v, %v", entries, err)
	}
}

func mustAccount(t *testing.T, st store.Store, addr string) store.Account {
	t.Helper()
	acct, err := st.Account(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	return acct
}

// TestACLRefusals: share and unshare refuse what IMAP SETACL refuses,
// worded for the operator, and change nothing.
func TestACLRefusals(t *testing.T) {
	a, st, _ := newAdmin(t)
	if _, err := a.CreateMailbox(ctx, "alice@example.org", "Projects"); err != nil {
		t.Fatal(err)
	}
	share := func(grantee, rights string) ACLArgs {
		return ACLArgs{Account: "alice@example.org", Name: "Projects", Grantee: grantee, Rights: rights}
	}
	for _, c := range []struct {
		name string
		args ACLArgs
		kind string
		text string
	}{
		{"mailbox acl", ACLArgs{Account: "nobody@example.org", Name: "INBOX"}, KindNotFound, "no account nobody@example.org"},
		{"mailbox acl", ACLArgs{Account: "alice@example.org", Name: "Nothing"}, KindNotFound, "alice@example.org has no mailbox Nothing"},
		{"mailbox share", ACLArgs{Account: "alice@example.org", Name: "Nothing", Grantee: "bob@example.org", Rights: "lr"}, KindNotFound,
			"alice@example.org has no mailbox Nothing"},
		{"mailbox share", share("bob@example.org", "lrz"), KindInvalid, `bad rights "lrz": letters of lrswipkxtea`},
		{"mailbox share", share("bob@example.org", "+lr"), KindInvalid, `bad rights "+lr"`},
		{"mailbox share", share("bob@example.org", "LR"), KindInvalid, `bad rights "LR"`},
		{"mailbox share", share("bob@example.org", ""), KindInvalid, "no rights given: mailbox unshare removes a grantee"},
		{"mailbox share", share("carol@example.org", "lr"), KindNotFound, "no account carol@example.org"},
		{"mailbox share", share("not an address", "lr"), KindNotFound, "no account not an address"},
		{"mailbox share", share("-bob@example.org", "lr"), KindNotFound, "no account -bob@example.org"},
		{"mailbox share", share("Alice@example.org", "lr"), KindRefused, "alice@example.org owns the mailbox and always holds every right"},
		{"mailbox unshare", share("bob@example.org", ""), KindNotFound, "Projects of alice@example.org is not shared with bob@example.org"},
		{"mailbox unshare", share("alice@example.org", ""), KindRefused, "alice@example.org owns the mailbox"},
		{"mailbox unshare", ACLArgs{Account: "alice@example.org", Name: "Nothing", Grantee: "bob@example.org"}, KindNotFound,
			"alice@example.org has no mailbox Nothing"},
	} {
		_, err := exec(t, a, c.name, c.args)
		var e *Error
		if !errors.As(err, &e) || e.Kind != c.kind || !strings.HasPrefix(e.Text, c.text) {
			t.Errorf("%s %+v: got %v, want %s %q", c.name, c.args, err, c.kind, c.text)
		}
	}
	alice := mustAccount(t, st, "alice@example.org")
	m, err := st.Mailbox(ctx, alice.ID, "Projects")
	if err != nil {
		t.Fatal(err)
	}
	if entries, err := st.MailboxACL(ctx, alice.ID, m.ID); err != nil || len(entries) != 0 {
		t.Fatalf("entries after refusals: %+v, %v", entries, err)
	}
}

// TestACLLimit: a share past store.MaxACLEntries is refused, as IMAP
// SETACL's is; changing an entry that is there still works.
func TestACLLimit(t *testing.T) {
	a, st, _ := newAdmin(t)
	grantees := []string{"anyone", "bob@example.org"}
	for i := len(grantees); i < store.MaxACLEntries; i++ {
		addr := fmt.Sprintf("user%d@example.org", i)
		if _, err := st.CreateAccount(ctx, addr, store.Credentials{PasswordHash: "x"}); err != nil {
			t.Fatal(err)
		}
		grantees = append(grantees, addr)
	}
	if _, err := st.CreateAccount(ctx, "onemore@example.org", store.Credentials{PasswordHash: "x"}); err != nil {
		t.Fatal(err)
	}
	for _, g := range grantees {
		if _, err := a.ShareMailbox(ctx, "alice@example.org", "INBOX", g, "lr"); err != nil {
			t.Fatalf("share with %s: %v", g, err)
		}
	}
	_, err := a.ShareMailbox(ctx, "alice@example.org", "INBOX", "onemore@example.org", "lr")
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindRefused || e.Text != fmt.Sprintf("INBOX of alice@example.org has too many access control entries (at most %d)", store.MaxACLEntries) {
		t.Fatalf("share past the limit: %v", err)
	}
	if acl, err := a.ShareMailbox(ctx, "alice@example.org", "INBOX", "bob@example.org", "lrs"); err != nil || len(acl.Entries) != store.MaxACLEntries+1 {
		t.Fatalf("changing an entry at the limit: %d entries, %v", len(acl.Entries), err)
	}
}
