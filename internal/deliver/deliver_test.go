package deliver

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"postel/internal/message"
	"postel/internal/store"
)

func newSpool(t *testing.T, st store.Store, body string) store.Spool {
	t.Helper()
	sp, err := st.NewSpool()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Discard() })
	if _, err := io.WriteString(sp, body); err != nil {
		t.Fatal(err)
	}
	if err := sp.Finish(); err != nil {
		t.Fatal(err)
	}
	return sp
}

func TestDeliver(t *testing.T) {
	st, ids := routerFixture(t)
	ctx := context.Background()
	alice, err := st.AccountByID(ctx, ids["alice@example.org"])
	if err != nil {
		t.Fatal(err)
	}
	bob, err := st.AccountByID(ctx, ids["bob@example.org"])
	if err != nil {
		t.Fatal(err)
	}
	prefix := []byte("Return-Path: <sender@remote.net>\r\nReceived: from x by y; Mon, 02 Jan 2006 15:04:05 +0000\r\n")
	body := "From: Sender <sender@remote.net>\r\nTo: alice@example.org\r\nSubject: Hello there\r\n" +
		"Message-ID: <m1@remote.net>\r\n\r\nThe body.\r\nSecond line.\r\n"
	in := Incoming{
		Spool:  newSpool(t, st, body),
		Prefix: prefix,
		Local:  []store.Account{alice, bob},
		Remote: []store.QueueRcpt{
			{Address: "far@remote.net", Notify: []string{"SUCCESS", "FAILURE"}, ORcpt: "rfc822;fwd@example.org"},
		},
		From:       "sender@remote.net",
		AccountID:  alice.ID,
		DSNRet:     "HDRS",
		DSNEnvID:   "env-1",
		RequireTLS: true,
		SMTPUTF8:   true,
		Body8Bit:   true,
	}
	rec := &recordingStore{Store: st}
	got, err := Deliver(ctx, rec, in)
	if err != nil {
		t.Fatal(err)
	}
	want := append(slices.Clone(prefix), body...)
	// The metadata, parsed once over prefix + body: offsets are relative to
	// the served message.
	meta := rec.last.Meta
	if meta.Subject != "Hello there" || meta.MessageID != "m1@remote.net" {
		t.Errorf("meta: subject %q message-id %q", meta.Subject, meta.MessageID)
	}
	root, err := message.UnmarshalStructure(meta.Structure)
	if err != nil {
		t.Fatal(err)
	}
	if b := string(want[root.BodyStart:root.End]); b != "The body.\r\nSecond line.\r\n" {
		t.Errorf("body by offsets = %q", b)
	}
	if root.HeaderStart != 0 {
		t.Errorf("header starts at %d", root.HeaderStart)
	}
	if !strings.Contains(meta.HeadersText, "Hello there") || !strings.Contains(meta.BodyText, "Second line.") {
		t.Errorf("searchable text: headers %q body %q", meta.HeadersText, meta.BodyText)
	}
	env, err := message.UnmarshalEnvelope(meta.Envelope)
	if err != nil || len(env.From) != 1 || env.From[0].Mailbox != "sender" || env.From[0].Host != "remote.net" {
		t.Errorf("envelope From = %+v, %v", env.From, err)
	}
	if len(got) != 2 || got[0].QueueID == 0 {
		t.Fatalf("Deliver = %+v; want 2 targets and a queue id", got)
	}
	for i, acct := range []store.Account{alice, bob} {
		msgs, err := st.Messages(ctx, acct.ID, got[i].MailboxID, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != 1 || msgs[0].UID != got[i].UID {
			t.Fatalf("%s INBOX: %+v", acct.Address, msgs)
		}
		if msgs[0].Size != int64(len(want)) {
			t.Errorf("%s: size %d; want %d", acct.Address, msgs[0].Size, len(want))
		}
		stored := readMessage(t, st, acct.ID, got[i].MailboxID, got[i].UID)
		if !bytes.Equal(stored, want) {
			t.Errorf("%s: stored %q; want %q", acct.Address, stored, want)
		}
	}

	queue, err := st.Queue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(queue) != 1 {
		t.Fatalf("queue = %+v", queue)
	}
	q := queue[0]
	// Relayed mail carries our Received but not our Return-Path (RFC 5321 §4.4).
	wantQueued := bytes.TrimPrefix(want, []byte("Return-Path: <sender@remote.net>\r\n"))
	if q.ID != got[0].QueueID || q.From != "sender@remote.net" || q.AccountID != alice.ID || q.DSNRet != "HDRS" ||
		q.DSNEnvID != "env-1" || !q.RequireTLS || !q.SMTPUTF8 || !q.Body8Bit || q.Size != int64(len(wantQueued)) {
		t.Errorf("queue entry = %+v", q)
	}
	if len(q.Recipients) != 1 || q.Recipients[0].Address != "far@remote.net" ||
		!slices.Equal(q.Recipients[0].Notify, []string{"SUCCESS", "FAILURE"}) ||
		q.Recipients[0].ORcpt != "rfc822;fwd@example.org" || q.Recipients[0].Status != "pending" {
		t.Errorf("queue recipients = %+v", q.Recipients)
	}
	mr, err := st.OpenQueued(ctx, q.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer mr.Close()
	queued, err := io.ReadAll(mr)
	if err != nil || !bytes.Equal(queued, wantQueued) {
		t.Errorf("queued bytes = %q, %v", queued, err)
	}
}

// TestDeliverFiling: one account's copy goes to its Junk with a header of
// its own, after Return-Path; the other's to INBOX as it was; the queued
// copy gets QueueHeader and no Return-Path. All in one transaction.
func TestDeliverFiling(t *testing.T) {
	st, ids := routerFixture(t)
	ctx := context.Background()
	alice, _ := st.AccountByID(ctx, ids["alice@example.org"])
	bob, _ := st.AccountByID(ctx, ids["bob@example.org"])
	prefix := "Return-Path: <s@remote.net>\r\nReceived: from x by y; Mon, 02 Jan 2006 15:04:05 +0000\r\n"
	body := "From: s@remote.net\r\nSubject: filed\r\n\r\nbody\r\n"
	junk := "X-Postel-Junk: yes; you blocked remote.net\r\n"
	seal := "ARC-Seal: i=1; x\r\n"
	got, err := Deliver(ctx, st, Incoming{
		Spool:       newSpool(t, st, body),
		Prefix:      []byte(prefix),
		Local:       []store.Account{alice, bob},
		Filing:      map[int64]Filing{bob.ID: {Mailbox: "Junk", Header: []byte(junk)}},
		Remote:      []store.QueueRcpt{{Address: "far@remote.net"}},
		QueueHeader: []byte(seal),
		From:        "s@remote.net",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].QueueID == 0 {
		t.Fatalf("Deliver = %+v", got)
	}
	wantAlice := prefix + body
	wantBob := "Return-Path: <s@remote.net>\r\n" + junk + strings.TrimPrefix(prefix, "Return-Path: <s@remote.net>\r\n") + body
	for _, c := range []struct {
		acct    store.Account
		mailbox string
		want    string
	}{{alice, "INBOX", wantAlice}, {bob, "Junk", wantBob}} {
		mb, err := st.Mailbox(ctx, c.acct.ID, c.mailbox)
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := st.Messages(ctx, c.acct.ID, mb.ID, 0)
		if err != nil || len(msgs) != 1 {
			t.Fatalf("%s %s: %+v, %v", c.acct.Address, c.mailbox, msgs, err)
		}
		if stored := readMessage(t, st, c.acct.ID, mb.ID, msgs[0].UID); string(stored) != c.want {
			t.Errorf("%s: stored %q; want %q", c.acct.Address, stored, c.want)
		}
		// The metadata was parsed over this copy's own bytes.
		metas, err := st.MessageMetas(ctx, c.acct.ID, mb.ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		root, err := message.UnmarshalStructure(metas[msgs[0].UID].Structure)
		if err != nil || c.want[root.BodyStart:root.End] != "body\r\n" {
			t.Errorf("%s: body by offsets wrong (%v)", c.acct.Address, err)
		}
	}
	mr, err := st.OpenQueued(ctx, got[0].QueueID)
	if err != nil {
		t.Fatal(err)
	}
	defer mr.Close()
	queued, _ := io.ReadAll(mr)
	if want := seal + strings.TrimPrefix(prefix, "Return-Path: <s@remote.net>\r\n") + body; string(queued) != want {
		t.Errorf("queued %q; want %q", queued, want)
	}
}

func TestWithHeader(t *testing.T) {
	for _, tc := range []struct{ prefix, header, want string }{
		{"Return-Path: <a@b>\r\nReceived: x\r\n", "H: 1\r\n", "Return-Path: <a@b>\r\nH: 1\r\nReceived: x\r\n"},
		{"Received: x\r\n", "H: 1\r\n", "H: 1\r\nReceived: x\r\n"},
		{"Return-Path: <a@b>\r\n", "H: 1\r\n", "Return-Path: <a@b>\r\nH: 1\r\n"},
		{"Return-Path: <a@b>\r\n", "", "Return-Path: <a@b>\r\n"},
	} {
		if got := string(withHeader([]byte(tc.prefix), []byte(tc.header))); got != tc.want {
			t.Errorf("withHeader(%q, %q) = %q; want %q", tc.prefix, tc.header, got, tc.want)
		}
	}
}

func TestDeliverQueueOnly(t *testing.T) {
	st, _ := routerFixture(t)
	ctx := context.Background()
	in := Incoming{
		Spool:  newSpool(t, st, "Subject: x\r\n\r\nbody\r\n"),
		Remote: []store.QueueRcpt{{Address: "a@remote.net"}, {Address: "b@remote.net"}},
		From:   "",
	}
	got, err := Deliver(ctx, st, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].QueueID == 0 {
		t.Fatalf("Deliver = %+v", got)
	}
	queue, err := st.Queue(ctx)
	if err != nil || len(queue) != 1 || len(queue[0].Recipients) != 2 || queue[0].From != "" {
		t.Fatalf("queue = %+v, %v", queue, err)
	}
}

func TestDeliverNoRecipients(t *testing.T) {
	st, _ := routerFixture(t)
	_, err := Deliver(context.Background(), st, Incoming{Spool: newSpool(t, st, "x\r\n")})
	if !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("Deliver without recipients: %v; want ErrInvalid", err)
	}
}

func TestDeliverQuota(t *testing.T) {
	st, ids := routerFixture(t)
	ctx := context.Background()
	if err := st.SetQuota(ctx, "bob@example.org", 10); err != nil {
		t.Fatal(err)
	}
	bob, err := st.AccountByID(ctx, ids["bob@example.org"])
	if err != nil {
		t.Fatal(err)
	}
	_, err = Deliver(ctx, st, Incoming{Spool: newSpool(t, st, "Subject: too big for 10 bytes\r\n\r\n"), Local: []store.Account{bob}})
	if !errors.Is(err, store.ErrQuota) {
		t.Fatalf("Deliver over quota: %v; want ErrQuota", err)
	}
}

// recordingStore is the real store, remembering the last Delivery it got.
type recordingStore struct {
	store.Store
	last store.Delivery
}

func (r *recordingStore) DeliverAll(ctx context.Context, ds []*store.Delivery) ([][]store.Delivered, error) {
	r.last = *ds[len(ds)-1]
	return r.Store.DeliverAll(ctx, ds)
}

func readMessage(t *testing.T, st store.Store, acct, mbox int64, uid uint32) []byte {
	t.Helper()
	mr, err := st.OpenMessage(context.Background(), acct, mbox, uid)
	if err != nil {
		t.Fatal(err)
	}
	defer mr.Close()
	b, err := io.ReadAll(mr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWithoutReturnPath(t *testing.T) {
	for in, want := range map[string]string{
		"":                                      "",
		"Received: x\r\n":                       "Received: x\r\n",
		"Return-Path: <a@b>\r\nReceived: x\r\n": "Received: x\r\n",
		"return-path: <a@b>\r\n\t<folded>\r\nReceived: x\r\n": "Received: x\r\n",
		"Return-Path: <a@b>\r\n":                              "",
		"Return-Path: <a@b>":                                  "",
	} {
		if got := string(withoutReturnPath([]byte(in))); got != want {
			t.Errorf("withoutReturnPath(%q) = %q, want %q", in, got, want)
		}
	}
}
