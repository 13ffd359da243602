package imapserver

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	"postel/internal/store"
	"postel/internal/testutil"
)

// These tests drive the server with go-imap v2's imapclient over TCP and
// check what it reports against the store.

const testMsg = "From: Bob <bob@example.org>\r\nTo: alice@example.org\r\nSubject: Hello there\r\nDate: Mon, 04 Mar 2024 08:00:00 +0000\r\nMessage-ID: <hello@example.org>\r\n\r\nHi Alice,\r\nlunch tomorrow?\r\n"

func TestClientSelectFetch(t *testing.T) {
	h := newHarness(t)
	h.put(h.alice, "INBOX", testMsg, `\Flagged`)
	h.put(h.alice, "INBOX", testutil.CRLF("Subject: second\n\nbody two\n"))
	c := h.client(nil)

	sel, err := c.Select("INBOX", &imap.SelectOptions{CondStore: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	mb := h.mailbox(h.alice, "INBOX")
	if sel.NumMessages != 2 || sel.UIDValidity != mb.UIDValidity || sel.UIDNext != imap.UID(mb.UIDNext) ||
		sel.HighestModSeq != mb.HighestModSeq {
		t.Fatalf("SELECT = %+v, store has %+v", sel, mb)
	}
	if !slices.Contains(sel.PermanentFlags, imap.FlagWildcard) {
		t.Errorf("PERMANENTFLAGS %v lack \\*", sel.PermanentFlags)
	}

	msgs, err := c.Fetch(imap.SeqSetNum(1, 2), &imap.FetchOptions{
		UID: true, Flags: true, Envelope: true, RFC822Size: true, InternalDate: true, ModSeq: true,
		BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
		BodySection:   []*imap.FetchItemBodySection{{Peek: true}, {Specifier: imap.PartSpecifierText, Peek: true}},
	}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	stored := h.messages(h.alice, "INBOX")
	if len(msgs) != 2 {
		t.Fatalf("FETCH returned %d messages", len(msgs))
	}
	for i, m := range msgs {
		s := stored[i]
		if m.SeqNum != uint32(i+1) || uint32(m.UID) != s.UID || m.RFC822Size != s.Size || m.ModSeq != s.ModSeq ||
			!m.InternalDate.Equal(s.InternalDate) {
			t.Errorf("message %d: %+v, store %+v", i+1, m, s)
		}
		// New to this session, the first to select the mailbox: \Recent
		// (RFC 3501 §2.3.2).
		want := append(slices.Clone(s.Flags), `\Recent`)
		slices.Sort(want)
		if got := flagStrings(m.Flags); !slices.Equal(got, want) {
			t.Errorf("message %d flags %v, want %v", i+1, got, want)
		}
		if int64(len(m.BodySection[0].Bytes)) != s.Size {
			t.Errorf("message %d: BODY[] has %d octets, RFC822.SIZE %d", i+1, len(m.BodySection[0].Bytes), s.Size)
		}
	}
	if string(msgs[0].BodySection[0].Bytes) != testMsg || string(msgs[0].BodySection[1].Bytes) != "Hi Alice,\r\nlunch tomorrow?\r\n" {
		t.Errorf("sections %q, %q", msgs[0].BodySection[0].Bytes, msgs[0].BodySection[1].Bytes)
	}
	env := msgs[0].Envelope
	if env.Subject != "Hello there" || env.MessageID != "hello@example.org" || len(env.From) != 1 ||
		env.From[0].Addr() != "bob@example.org" || env.From[0].Name != "Bob" || !env.Date.Equal(time.Date(2024, 3, 4, 8, 0, 0, 0, time.UTC)) {
		t.Errorf("envelope %+v", env)
	}
	if bs, ok := msgs[0].BodyStructure.(*imap.BodyStructureSinglePart); !ok || bs.Type != "TEXT" || bs.Subtype != "PLAIN" || bs.Size != 28 {
		t.Errorf("bodystructure %#v", msgs[0].BodyStructure)
	}

	// BODY[] without PEEK sets \Seen (RFC 9051 §6.4.5).
	if _, err := c.Fetch(imap.SeqSetNum(2), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}}).Collect(); err != nil {
		t.Fatal(err)
	}
	if f := h.messages(h.alice, "INBOX")[1].Flags; !slices.Contains(f, store.FlagSeen) {
		t.Errorf("after BODY[]: flags %v", f)
	}
}

func flagStrings(fs []imap.Flag) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = string(f)
	}
	slices.Sort(out)
	return out
}

func TestClientStoreSearchExpunge(t *testing.T) {
	h := newHarness(t)
	for i := 0; i < 5; i++ {
		h.put(h.alice, "INBOX", testMsg)
	}
	c := h.client(nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	res, err := c.Store(imap.SeqSetNum(2, 4), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted, "$Label"}}, nil).Collect()
	if err != nil || len(res) != 2 {
		t.Fatalf("STORE: %v, %d responses", err, len(res))
	}
	sd, err := c.Search(&imap.SearchCriteria{Flag: []imap.Flag{imap.FlagDeleted}}, nil).Wait()
	if err != nil || !slices.Equal(sd.AllSeqNums(), []uint32{2, 4}) {
		t.Fatalf("SEARCH DELETED = %v, %v", sd, err)
	}
	sd, err = c.UIDSearch(&imap.SearchCriteria{Text: []string{"LUNCH"}, NotFlag: []imap.Flag{imap.FlagDeleted}}, nil).Wait()
	if err != nil || !slices.Equal(sd.AllUIDs(), []imap.UID{1, 3, 5}) {
		t.Fatalf("UID SEARCH TEXT = %v, %v", sd, err)
	}
	exp, err := c.Expunge().Collect()
	if err != nil || !slices.Equal(exp, []uint32{2, 3}) { // 2, then 4 renumbered to 3
		t.Fatalf("EXPUNGE = %v, %v", exp, err)
	}
	var uids []uint32
	for _, m := range h.messages(h.alice, "INBOX") {
		uids = append(uids, m.UID)
	}
	if !slices.Equal(uids, []uint32{1, 3, 5}) {
		t.Fatalf("store after EXPUNGE: %v", uids)
	}
	// UID EXPUNGE only removes the \Deleted messages of its set.
	if _, err := c.Store(imap.SeqSetNum(1, 2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	exp, err = c.UIDExpunge(imap.UIDSetNum(3, 5)).Collect()
	if err != nil || !slices.Equal(exp, []uint32{2}) {
		t.Fatalf("UID EXPUNGE = %v, %v", exp, err)
	}
}

func TestClientAppendCopyMove(t *testing.T) {
	h := newHarness(t)
	c := h.client(nil)
	cmd := c.Append("INBOX", int64(len(testMsg)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen}, Time: time.Date(2023, 5, 6, 7, 8, 9, 0, time.UTC)})
	io.WriteString(cmd, testMsg)
	cmd.Close()
	ad, err := cmd.Wait()
	if err != nil {
		t.Fatal(err)
	}
	inbox := h.mailbox(h.alice, "INBOX")
	stored := h.messages(h.alice, "INBOX")
	if ad.UIDValidity != inbox.UIDValidity || len(stored) != 1 || uint32(ad.UID) != stored[0].UID ||
		!stored[0].InternalDate.Equal(time.Date(2023, 5, 6, 7, 8, 9, 0, time.UTC)) || !slices.Equal(stored[0].Flags, []string{store.FlagSeen}) {
		t.Fatalf("APPENDUID %+v, store %+v", ad, stored)
	}
	for i := 0; i < 3; i++ {
		h.put(h.alice, "INBOX", testMsg)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	cd, err := c.Copy(imap.SeqSetNum(1, 2), "Archive").Wait()
	archive := h.mailbox(h.alice, "Archive")
	if err != nil || cd.UIDValidity != archive.UIDValidity || cd.SourceUIDs.String() != "1:2" || cd.DestUIDs.String() != "1:2" {
		t.Fatalf("COPY = %+v, %v", cd, err)
	}
	md, err := c.Move(imap.SeqSetNum(2, 3), "Trash").Wait()
	trash := h.mailbox(h.alice, "Trash")
	if err != nil || md.UIDValidity != trash.UIDValidity || md.SourceUIDs.String() != "2:3" || md.DestUIDs.String() != "1:2" {
		t.Fatalf("MOVE = %+v, %v", md, err)
	}
	if n := c.Mailbox().NumMessages; n != 2 {
		t.Errorf("client counts %d messages after MOVE, want 2", n)
	}
	if got := len(h.messages(h.alice, "INBOX")); got != 2 {
		t.Errorf("INBOX has %d messages after MOVE", got)
	}
	if _, err := c.Copy(imap.SeqSetNum(1), "Nowhere").Wait(); err == nil || !strings.Contains(err.Error(), "TRYCREATE") {
		t.Errorf("COPY to a missing mailbox: %v", err)
	}
}

func TestClientMailboxes(t *testing.T) {
	h := newHarness(t)
	c := h.client(nil)
	if err := c.Create("Projects/2024", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Create("Sent Items", &imap.CreateOptions{SpecialUse: []imap.MailboxAttr{imap.MailboxAttrSent}}).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Rename("Projects", "Work", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	list, err := c.List("", "*", &imap.ListOptions{ReturnStatus: &imap.StatusOptions{NumMessages: true}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]imap.MailboxAttr{}
	for _, l := range list {
		got[l.Mailbox] = l.Attrs
		if l.Status == nil || l.Status.NumMessages == nil {
			t.Errorf("LIST-STATUS missing for %s", l.Mailbox)
		}
	}
	if !slices.Contains(got["Work"], imap.MailboxAttrHasChildren) || got["Work/2024"] == nil || got["Projects"] != nil ||
		!slices.Contains(got["Sent Items"], imap.MailboxAttrSent) {
		t.Errorf("LIST = %v", got)
	}
	if err := c.Delete("Work/2024").Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("INBOX").Wait(); err == nil {
		t.Error("DELETE INBOX succeeded")
	}
	// CREATE does not subscribe (RFC 3501 §6.3.6: subscriptions are the
	// client's own).
	if mb := h.mailbox(h.alice, "Work"); mb.Subscribed {
		t.Error("CREATE subscribed the mailbox")
	}
	if err := c.Subscribe("Work").Wait(); err != nil {
		t.Fatal(err)
	}
	if mb := h.mailbox(h.alice, "Work"); !mb.Subscribed {
		t.Error("SUBSCRIBE left the mailbox unsubscribed")
	}
	if err := c.Unsubscribe("Work").Wait(); err != nil {
		t.Fatal(err)
	}
	if mb := h.mailbox(h.alice, "Work"); mb.Subscribed {
		t.Error("UNSUBSCRIBE left the mailbox subscribed")
	}
	ns, err := c.Namespace().Wait()
	if err != nil || len(ns.Personal) != 1 || ns.Personal[0].Delim != '/' {
		t.Errorf("NAMESPACE = %+v, %v", ns, err)
	}
	h.put(h.alice, "INBOX", testMsg, `\Seen`)
	st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true, UIDNext: true, NumUnseen: true, Size: true, HighestModSeq: true}).Wait()
	mb := h.mailbox(h.alice, "INBOX")
	if err != nil || *st.NumMessages != 1 || st.UIDNext != imap.UID(mb.UIDNext) || *st.NumUnseen != 0 || *st.Size != mb.Size || st.HighestModSeq != mb.HighestModSeq {
		t.Errorf("STATUS = %+v, %v; store %+v", st, err, mb)
	}
}

func TestClientQuotaIDEnable(t *testing.T) {
	h := newHarness(t)
	if err := h.st.SetQuota(context.Background(), "alice@example.org", 10<<20); err != nil {
		t.Fatal(err)
	}
	h.put(h.alice, "INBOX", testMsg)
	c := h.client(nil)
	roots, err := c.GetQuotaRoot("INBOX").Wait()
	if err != nil || len(roots) != 1 {
		t.Fatalf("GETQUOTAROOT = %+v, %v", roots, err)
	}
	res := roots[0].Resources[imap.QuotaResourceStorage]
	if res.Limit != 10<<10 || res.Usage != 1 {
		t.Errorf("STORAGE = %+v, want usage 1 KiB of %d", res, 10<<10)
	}
	if err := c.SetQuota("", map[imap.QuotaResourceType]int64{imap.QuotaResourceStorage: 1}).Wait(); err == nil {
		t.Error("SETQUOTA succeeded")
	}
	id, err := c.ID(&imap.IDData{Name: "go-imap test"}).Wait()
	if err != nil || id.Name != "Postel" {
		t.Errorf("ID = %+v, %v", id, err)
	}
	en, err := c.Enable(imap.CapUTF8Accept, imap.CapIMAP4rev2).Wait()
	if err != nil || !en.Caps.Has(imap.CapUTF8Accept) || !en.Caps.Has(imap.CapIMAP4rev2) {
		t.Errorf("ENABLE = %+v, %v", en, err)
	}
}

func TestClientAuthenticate(t *testing.T) {
	h := newHarness(t)
	for _, mech := range []string{"PLAIN", "LOGIN"} {
		t.Run(mech, func(t *testing.T) {
			c, err := imapclient.DialStartTLS(h.addr, &imapclient.Options{TLSConfig: h.clientTLS})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var sc sasl.Client
			if mech == "PLAIN" {
				sc = sasl.NewPlainClient("", "alice@example.org", alicePass)
			} else {
				sc = sasl.NewLoginClient("alice@example.org", alicePass)
			}
			if err := c.Authenticate(sc); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Select("INBOX", nil).Wait(); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		c, err := imapclient.DialTLS(h.tlsAddr, &imapclient.Options{TLSConfig: h.clientTLS})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		err = c.Login("alice@example.org", "wrong").Wait()
		if err == nil || !strings.Contains(err.Error(), "AUTHENTICATIONFAILED") {
			t.Fatalf("LOGIN with a wrong password: %v", err)
		}
	})
}

// TestIdleDelivery checks that a message delivered as SMTP delivers it
// reaches a session in IDLE: the server pushes EXISTS while the client only
// waits (IDLE has no poll; the 10 seconds only bound a failing test).
func TestIdleDelivery(t *testing.T) {
	h := newHarness(t)
	exists := make(chan uint32, 10)
	c := h.client(&imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				exists <- *d.NumMessages
			}
		},
	}})
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	// Idle returns once the server has answered "+ idling".
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	h.deliverSMTP(h.alice, testMsg)
	select {
	case n := <-exists:
		if n != 1 {
			t.Errorf("EXISTS %d, want 1", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no EXISTS pushed after the delivery")
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{RFC822Size: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	if err != nil || len(msgs) != 1 || !strings.HasPrefix(string(msgs[0].BodySection[0].Bytes), "Received: from test") ||
		int64(len(msgs[0].BodySection[0].Bytes)) != msgs[0].RFC822Size {
		t.Fatalf("FETCH after IDLE: %+v, %v", msgs, err)
	}
}
