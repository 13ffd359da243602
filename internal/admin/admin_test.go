package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"postel/internal/store"
	"postel/internal/store/sqlite"
)

var ctx = context.Background()

// newAdmin returns the commands over a fresh SQLite store with
// example.org, alice@example.org (with a message) and bob@example.org;
// kicks counts the queue kicks.
func newAdmin(t *testing.T) (a *Admin, st *sqlite.Store, kicks *int) {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	kicks = new(int)
	a = New(st, Options{DataDir: dir, Kick: func() { *kicks++ }})
	if _, err := a.AddDomain(ctx, "Example.ORG"); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{"alice@example.org", "bob@example.org"} {
		if _, err := a.AddAccount(ctx, addr, Credentials{PasswordHash: "hash of " + addr}, 0); err != nil {
			t.Fatal(err)
		}
	}
	return a, st, kicks
}

// exec runs a command by name, as the CLI and the control socket do.
func exec(t *testing.T, a *Admin, name string, args any) (string, error) {
	t.Helper()
	raw, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.Exec(ctx, name, raw)
	return string(res), err
}

// TestRefusals: every command refuses what it must with words a person
// reads, never the store's internal text, and with the store's sentinel
// for errors.Is.
func TestRefusals(t *testing.T) {
	a, _, _ := newAdmin(t)
	if _, err := a.AddAlias(ctx, "team@example.org", []string{"alice@example.org"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateMailbox(ctx, "alice@example.org", "Projects"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args any
		kind string
		text string
	}{
		{"user del", AddressArgs{"Nobody@Example.org"}, KindNotFound, "no account nobody@example.org"},
		{"user disable", AddressArgs{"not an address"}, KindNotFound, "no account not an address"},
		{"user passwd", PasswordArgs{Address: "nobody@example.org"}, KindNotFound, "no account nobody@example.org"},
		{"user unlock", AddressArgs{"nobody@example.org"}, KindNotFound, "no account nobody@example.org"},
		{"user quota", QuotaArgs{"nobody@example.org", 5}, KindNotFound, "no account nobody@example.org"},
		{"user quota", QuotaArgs{"alice@example.org", -1}, KindInvalid, "bad quota -1"},
		{"user add", NewAccountArgs{Address: "alice@EXAMPLE.org"}, KindExists, "account alice@example.org exists already"},
		{"user add", NewAccountArgs{Address: "carol@elsewhere.example"}, KindNotFound,
			"elsewhere.example is not a local domain: add it first (postel domain add elsewhere.example)"},
		{"user add", NewAccountArgs{Address: "carol"}, KindInvalid, `bad address "carol": want user@domain`},
		{"domain add", DomainArgs{"example.org."}, KindExists, "domain example.org exists already"},
		{"domain add", DomainArgs{"bad domain"}, KindInvalid, `bad domain name "bad domain"`},
		{"domain del", DomainArgs{"Example.org"}, KindInUse, "domain example.org has accounts (alice@example.org, bob@example.org); delete them first"},
		{"domain del", DomainArgs{"other.example"}, KindNotFound, "no domain other.example"},
		{"alias add", AliasArgs{"x@other.example", []string{"alice@example.org"}}, KindNotFound, "other.example is not a local domain"},
		{"alias add", AliasArgs{"x@example.org", []string{"nobody"}}, KindInvalid, `bad target "nobody"`},
		{"alias add", AliasArgs{Address: "x@example.org"}, KindInvalid, "alias x@example.org: no target"},
		{"alias del", AliasArgs{Address: "none@example.org"}, KindNotFound, "no alias none@example.org"},
		{"alias del", AliasArgs{"team@example.org", []string{"bob@example.org"}}, KindNotFound, "alias team@example.org has no target bob@example.org"},
		{"mailbox list", AddressArgs{"nobody@example.org"}, KindNotFound, "no account nobody@example.org"},
		{"mailbox create", MailboxArgs{Account: "alice@example.org", Name: "Projects"}, KindExists, "alice@example.org already has a mailbox Projects"},
		{"mailbox create", MailboxArgs{Account: "alice@example.org", Name: "a//b"}, KindInvalid, `bad mailbox name "a//b"`},
		{"mailbox delete", MailboxArgs{Account: "alice@example.org", Name: "Nothing"}, KindNotFound, "alice@example.org has no mailbox Nothing"},
		{"mailbox delete", MailboxArgs{Account: "alice@example.org", Name: "INBOX", Force: true}, KindRefused, "the INBOX of alice@example.org cannot be deleted"},
		{"mailbox delete", MailboxArgs{Account: "alice@example.org", Name: "Trash"}, KindRefused,
			`Trash is the \Trash mailbox of alice@example.org: add --force to delete it with its 0 messages`},
		{"queue show", QueueArgs{42}, KindNotFound, "no queue entry 42"},
		{"queue retry", QueueArgs{42}, KindNotFound, "no queue entry 42"},
		{"queue drop", QueueArgs{42}, KindNotFound, "no queue entry 42"},
		{"junk block", JunkArgs{Account: "nobody@example.org", Pattern: "x.example"}, KindNotFound, "no account nobody@example.org"},
		{"junk allow", JunkArgs{Account: "alice@example.org", Pattern: "*.example"}, KindInvalid, `bad pattern "*.example"`},
		{"junk unblock", JunkArgs{Account: "alice@example.org", Pattern: "x.example"}, KindNotFound, "alice@example.org has no rule block x.example"},
		{"junk forget", JunkArgs{Account: "alice@example.org", Sender: "carol@example.com"}, KindNotFound,
			"alice@example.org has no reputation for carol@example.com"},
		{"dkim show", DomainArgs{"example.org"}, KindNotFound, "example.org has no DKIM keys; `postel dkim gen example.org` makes them"},
		{"dkim gen", DomainArgs{"not a domain"}, KindInvalid, `bad domain name "not a domain"`},
		{"no such thing", NoArgs{}, KindInvalid, `unknown admin command "no such thing"`},
		{"user del", map[string]string{"adress": "alice@example.org"}, KindInvalid, `bad arguments: json: unknown field "adress"`},
	} {
		_, err := exec(t, a, c.name, c.args)
		var e *Error
		if !errors.As(err, &e) || e.Kind != c.kind || !strings.HasPrefix(e.Text, c.text) {
			t.Errorf("%s %+v: got %v (%#v), want %s %q", c.name, c.args, err, err, c.kind, c.text)
			continue
		}
		if strings.Contains(e.Text, "store:") || strings.Contains(e.Text, "sqlite") {
			t.Errorf("%s: internal wording in %q", c.name, e.Text)
		}
		sentinel := map[string]error{KindNotFound: store.ErrNotFound, KindExists: store.ErrExists, KindInUse: store.ErrInUse, KindInvalid: store.ErrInvalid}[c.kind]
		if sentinel != nil && !errors.Is(err, sentinel) {
			t.Errorf("%s: %v is not %v", c.name, err, sentinel)
		}
	}
	// Nothing a refusal touched changed: both accounts and the alias are
	// there, the domain too.
	if all, err := a.Accounts(ctx); err != nil || len(all) != 2 {
		t.Fatalf("accounts after refusals: %+v, %v", all, err)
	}
	if al, err := a.Aliases(ctx); err != nil || len(al) != 1 || len(al[0].Targets) != 1 {
		t.Fatalf("aliases after refusals: %+v, %v", al, err)
	}
}

// TestCommands runs each command's success and checks the store.
func TestCommands(t *testing.T) {
	a, st, kicks := newAdmin(t)

	acct, err := a.SetQuota(ctx, "Alice@example.org", 1000)
	if err != nil || acct.Address != "alice@example.org" || acct.QuotaBytes != 1000 {
		t.Fatalf("SetQuota = %+v, %v", acct, err)
	}
	if acct, err = a.SetDisabled(ctx, "alice@example.org", true); err != nil || !acct.Disabled {
		t.Fatalf("SetDisabled = %+v, %v", acct, err)
	}
	before, _ := st.Account(ctx, "alice@example.org")
	if _, err := a.Unlock(ctx, "alice@example.org"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SetPassword(ctx, "alice@example.org", Credentials{PasswordHash: "new"}); err != nil {
		t.Fatal(err)
	}
	after, err := st.Account(ctx, "alice@example.org")
	if err != nil || after.Credentials.PasswordHash != "new" || after.AuthEpoch < before.AuthEpoch+2 {
		t.Fatalf("after Unlock and SetPassword: %+v (epoch before %d), %v", after, before.AuthEpoch, err)
	}

	// user list: no credentials in what it says.
	out, err := exec(t, a, "user list", NoArgs{})
	if err != nil || strings.Contains(out, "hash") || strings.Contains(out, "new") || !strings.Contains(out, `"address":"alice@example.org"`) ||
		!strings.Contains(out, `"disabled":true`) || !strings.Contains(out, `"quota_bytes":1000`) {
		t.Fatalf("user list = %s, %v", out, err)
	}

	al, err := a.AddAlias(ctx, "team@example.org", []string{"alice@example.org", "friend@elsewhere.example"})
	if err != nil || len(al.Targets) != 2 {
		t.Fatalf("AddAlias = %+v, %v", al, err)
	}
	// Adding a target it has already keeps it, once.
	if al, err = a.AddAlias(ctx, "team@example.org", []string{"alice@example.org"}); err != nil || len(al.Targets) != 2 {
		t.Fatalf("AddAlias again = %+v, %v", al, err)
	}
	if al, err = a.DeleteAlias(ctx, "team@example.org", "friend@elsewhere.example"); err != nil || len(al.Targets) != 1 {
		t.Fatalf("DeleteAlias one = %+v, %v", al, err)
	}
	if al, err = a.DeleteAlias(ctx, "team@example.org", ""); err != nil || len(al.Targets) != 0 {
		t.Fatalf("DeleteAlias all = %+v, %v", al, err)
	}

	// Made by the operator, it comes subscribed, as the defaults do.
	if m, err := a.CreateMailbox(ctx, "alice@example.org", "Projects/Postel"); err != nil || !m.Subscribed {
		t.Fatalf("CreateMailbox = %+v, %v", m, err)
	}
	m, err := a.DeleteMailbox(ctx, "alice@example.org", "Trash", true)
	if err != nil || m.Name != "Trash" || m.Role != store.RoleTrash {
		t.Fatalf("DeleteMailbox --force = %+v, %v", m, err)
	}
	mbs, err := a.Mailboxes(ctx, "alice@example.org")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range mbs {
		names = append(names, m.Name)
	}
	if got := strings.Join(names, " "); got != "Archive Drafts INBOX Junk Projects/Postel Sent" {
		t.Fatalf("mailboxes = %s", got)
	}

	r, err := a.AddJunkRule(ctx, "alice@example.org", store.JunkBlock, "Spam.Example")
	if err != nil || r.Pattern != "spam.example" {
		t.Fatalf("AddJunkRule = %+v, %v", r, err)
	}
	if _, err := a.AddJunkRule(ctx, "alice@example.org", store.JunkAllow, "spam.example"); err == nil ||
		err.Error() != "alice@example.org already has the rule block spam.example (postel junk unblock alice@example.org spam.example removes it)" {
		t.Fatalf("allowing a blocked pattern: %v", err)
	}

	// The queue: a retry without a server only makes the entry due; with
	// one, it kicks the queue.
	if err := New(st, Options{}).KickQueue(ctx); err == nil {
		t.Fatal("KickQueue without a server succeeded")
	}
	if err := a.KickQueue(ctx); err != nil || *kicks != 1 {
		t.Fatalf("KickQueue: %v, %d kicks", err, *kicks)
	}

	if _, err := a.DeleteAccount(ctx, "bob@example.org"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Account(ctx, "bob@example.org"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("bob still there: %v", err)
	}
	if _, err := a.DeleteAccount(ctx, "alice@example.org"); err != nil {
		t.Fatal(err)
	}
	if d, err := a.DeleteDomain(ctx, "example.org"); err != nil || d.Name != "example.org" {
		t.Fatalf("DeleteDomain = %+v, %v", d, err)
	}
	if ds, err := a.Domains(ctx); err != nil || len(ds) != 0 {
		t.Fatalf("domains = %+v, %v", ds, err)
	}
	// Lists are [] rather than null in JSON, for scripts.
	for _, name := range []string{"user list", "domain list", "alias list", "queue list"} {
		if out, err := exec(t, a, name, NoArgs{}); err != nil || out != "[]" {
			t.Errorf("%s on an empty store = %s, %v", name, out, err)
		}
	}
}

// TestQueueRetry: a retried entry becomes due now, and the live queue is
// woken.
func TestQueueRetry(t *testing.T) {
	a, st, kicks := newAdmin(t)
	alice, err := st.Account(ctx, "alice@example.org")
	if err != nil {
		t.Fatal(err)
	}
	sp, err := st.NewSpool()
	if err != nil {
		t.Fatal(err)
	}
	sp.Write([]byte("Subject: out\r\n\r\nbody\r\n"))
	if err := sp.Finish(); err != nil {
		t.Fatal(err)
	}
	later := mustParse(t, "2099-01-01T00:00:00Z")
	got, err := st.Deliver(ctx, &store.Delivery{Spool: sp, Queue: &store.QueueEntry{AccountID: alice.ID, From: "alice@example.org",
		Recipients: []store.QueueRcpt{{Address: "bob@remote.example"}}, NextAttempt: later}})
	if err != nil {
		t.Fatal(err)
	}
	id := got[0].QueueID
	q, err := a.QueueEntry(ctx, id)
	if err != nil || q.From != "alice@example.org" || len(q.Recipients) != 1 || q.Recipients[0].Address != "bob@remote.example" {
		t.Fatalf("QueueEntry = %+v, %v", q, err)
	}
	res, err := a.RetryQueued(ctx, id)
	if err != nil || !res.Now || *kicks != 1 {
		t.Fatalf("RetryQueued = %+v, %v, %d kicks", res, err, *kicks)
	}
	e, err := st.QueueEntry(ctx, id)
	if err != nil || !e.NextAttempt.Before(later) {
		t.Fatalf("after retry the entry is due %v (%v)", e.NextAttempt, err)
	}
	// Without a server: due, not kicked.
	if res, err := New(st, Options{}).RetryQueued(ctx, id); err != nil || res.Now {
		t.Fatalf("RetryQueued without a server = %+v, %v", res, err)
	}
	if dropped, err := a.DropQueued(ctx, id); err != nil || dropped.ID != id {
		t.Fatalf("DropQueued = %+v, %v", dropped, err)
	}
	if all, err := a.Queue(ctx); err != nil || len(all) != 0 {
		t.Fatalf("queue after drop = %+v, %v", all, err)
	}
}

// TestDKIM: gen makes the keys once and show prints the same records.
func TestDKIM(t *testing.T) {
	a, _, _ := newAdmin(t)
	gen, err := a.GenerateDKIM(ctx, "Example.org")
	if err != nil || gen.Domain != "example.org" || len(gen.Records) != 2 {
		t.Fatalf("GenerateDKIM = %+v, %v", gen, err)
	}
	for _, r := range gen.Records {
		if !strings.HasSuffix(r.Name, "._domainkey.example.org.") || !strings.HasPrefix(r.Value, "v=DKIM1;") || !strings.HasPrefix(r.Zone, r.Name+" IN TXT") {
			t.Fatalf("record %+v", r)
		}
	}
	show, err := a.DKIMRecords(ctx, "example.org")
	if err != nil || len(show.Records) != 2 || show.Records[0] != gen.Records[0] || show.Records[1] != gen.Records[1] {
		t.Fatalf("DKIMRecords = %+v, %v; gen made %+v", show, err, gen)
	}
	_, err = a.GenerateDKIM(ctx, "example.org")
	if e := (*Error)(nil); !errors.As(err, &e) || e.Kind != KindExists || !strings.Contains(e.Text, "already has DKIM keys") {
		t.Fatalf("GenerateDKIM again: %v", err)
	}
}

// sharedStore is a store that carries the nodes' shared files
// (store.SharedFiles), kept in memory, as the PostgreSQL store does.
type sharedStore struct {
	store.Store
	files map[string][]byte
}

func (s *sharedStore) PutSharedFile(_ context.Context, name string, data []byte) error {
	if err := store.CheckSharedFileName(name); err != nil {
		return err
	}
	if have, ok := s.files[name]; ok && !bytes.Equal(have, data) {
		return store.ErrExists
	}
	s.files[name] = bytes.Clone(data)
	return nil
}

func (s *sharedStore) SharedFiles(context.Context) (map[string][]byte, error) {
	return maps.Clone(s.files), nil
}

// TestDKIMShared: on a store the nodes share, gen puts the keys into the
// store as well, byte for byte; on another node (another data dir) gen
// refuses to make other keys for the domain and says how to get the
// store's.
func TestDKIMShared(t *testing.T) {
	_, st, _ := newAdmin(t)
	shared := &sharedStore{Store: st, files: map[string][]byte{}}
	dirA, dirB := t.TempDir(), t.TempDir()
	a := New(shared, Options{DataDir: dirA})
	gen, err := a.GenerateDKIM(ctx, "Example.org")
	if err != nil || !gen.Shared || len(gen.Records) != 2 {
		t.Fatalf("GenerateDKIM = %+v, %v", gen, err)
	}
	if len(shared.files) != 2 {
		t.Fatalf("the store holds %v", slices.Sorted(maps.Keys(shared.files)))
	}
	for _, sel := range []string{"postel-ed25519", "postel-rsa"} {
		local, err := os.ReadFile(filepath.Join(dirA, "dkim", "example.org", sel+".key"))
		if err != nil || !bytes.Equal(local, shared.files["dkim/example.org/"+sel+".key"]) {
			t.Fatalf("%s: the store's copy differs from the file (%v)", sel, err)
		}
	}
	b := New(shared, Options{DataDir: dirB})
	_, err = b.GenerateDKIM(ctx, "example.org")
	if e := (*Error)(nil); !errors.As(err, &e) || e.Kind != KindExists || !strings.Contains(e.Text, "made on another node") ||
		!strings.Contains(e.Text, "postel reload") {
		t.Fatalf("GenerateDKIM on another node: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dirB, "dkim", "example.org")); err == nil {
		t.Fatal("keys made on the other node")
	}
	// Another domain is made there, and shared.
	if gen, err := b.GenerateDKIM(ctx, "example.net"); err != nil || !gen.Shared || len(shared.files) != 4 {
		t.Fatalf("GenerateDKIM of another domain: %+v, %v; store %v", gen, err, slices.Sorted(maps.Keys(shared.files)))
	}
}

func mustParse(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
