package imapserver

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"postel/internal/deliver"
	"postel/internal/junk"
	"postel/internal/message"
	"postel/internal/store"
	"postel/internal/store/sqlite"
)

// lateTrainer lets a test hand the server a Trainer over the harness's
// store, which exists only once the server does.
type lateTrainer struct{ t atomic.Pointer[junk.Filter] }

func (l *lateTrainer) Train(ctx context.Context, accountID int64, sender string, spam bool) error {
	return l.t.Load().Train(ctx, accountID, sender, spam)
}

// junkHarness is a harness whose server trains a junk.Filter on its store.
func junkHarness(t *testing.T) *harness {
	var lt lateTrainer
	h := newHarness(t, func(c *Config) { c.Trainer = &lt })
	lt.t.Store(junk.New(h.st))
	return h
}

func fromMsg(from, subject string) string {
	return "From: Someone <" + from + ">\r\nTo: alice@example.org\r\nSubject: " + subject + "\r\n\r\nbody\r\n"
}

// reputation is "spam/ham/last" for sender in acct's reputations, "" when
// there is none.
func (h *harness) reputation(acct store.Account, sender string) string {
	h.t.Helper()
	r, err := h.st.Reputation(context.Background(), acct.ID, sender)
	if err != nil {
		h.t.Fatal(err)
	}
	if r.Spam+r.Ham == 0 {
		return ""
	}
	return fmt.Sprintf("%d/%d/%s", r.Spam, r.Ham, r.Last)
}

func (h *harness) wantReputation(acct store.Account, sender, want, after string) {
	h.t.Helper()
	if got := h.reputation(acct, sender); got != want {
		h.t.Fatalf("after %s: reputation of %s = %q, want %q", after, sender, got, want)
	}
}

func selectBox(t *testing.T, c *imapclient.Client, name string) {
	t.Helper()
	if _, err := c.Select(name, nil).Wait(); err != nil {
		t.Fatalf("SELECT %s: %v", name, err)
	}
}

// TestJunkTraining drives the training with go-imap's client: moves and
// copies into and out of Junk, and the $Junk/$NotJunk keywords.
func TestJunkTraining(t *testing.T) {
	h := junkHarness(t)
	h.put(h.alice, "INBOX", fromMsg("spammer@spam.example", "1"))   // UID 1
	h.put(h.alice, "INBOX", fromMsg("Flagged@Example.COM", "2"))    // UID 2
	h.put(h.alice, "INBOX", fromMsg("friend@example.net", "3"))     // UID 3
	h.put(h.alice, "INBOX", "Subject: no From\r\n\r\nbody\r\n")     // UID 4
	h.put(h.alice, "INBOX", fromMsg("copied@example.net", "5"))     // UID 5
	h.put(h.alice, "Junk", fromMsg("policy@example.org", "junk 1")) // Junk UID 1
	h.put(h.alice, "Junk", fromMsg("trash@example.org", "junk 2"))  // Junk UID 2
	h.put(h.bob, "INBOX", fromMsg("spammer@spam.example", "bob's"))
	c := h.client(nil)

	selectBox(t, c, "INBOX")
	if _, err := c.Move(imap.SeqSetNum(1), "Junk").Wait(); err != nil {
		t.Fatal(err)
	}
	h.wantReputation(h.alice, "spammer@spam.example", "1/0/spam", "MOVE into Junk")

	// Out again (UID MOVE), into a mailbox other than Trash: ham.
	selectBox(t, c, "Junk")
	if _, err := c.Move(imap.UIDSetNum(3), "INBOX").Wait(); err != nil {
		t.Fatal(err)
	}
	h.wantReputation(h.alice, "spammer@spam.example", "1/1/ham", "UID MOVE out of Junk")

	// $NotJunk on a message in Junk: ham; its later move out of Junk
	// does not count it twice.
	if _, err := c.Store(imap.UIDSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{"$NotJunk"}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	h.wantReputation(h.alice, "policy@example.org", "0/1/ham", "STORE +FLAGS $NotJunk in Junk")
	if _, err := c.Move(imap.UIDSetNum(1), "Archive").Wait(); err != nil {
		t.Fatal(err)
	}
	h.wantReputation(h.alice, "policy@example.org", "0/1/ham", "MOVE out of Junk of a message with $NotJunk")

	// From Junk into Trash: no verdict.
	if _, err := c.Copy(imap.UIDSetNum(2), "Trash").Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Move(imap.UIDSetNum(2), "Trash").Wait(); err != nil {
		t.Fatal(err)
	}
	h.wantReputation(h.alice, "trash@example.org", "", "COPY and MOVE from Junk into Trash")

	// $Junk outside Junk: spam (the address is canonical); moving the
	// message into Junk afterwards does not count it twice.
	selectBox(t, c, "INBOX")
	if _, err := c.Store(imap.UIDSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{"$junk"}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	h.wantReputation(h.alice, "flagged@example.com", "1/0/spam", "STORE +FLAGS $Junk in INBOX")
	// Storing it again changes nothing, and teaches nothing.
	if _, err := c.Store(imap.UIDSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{"$Junk"}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Move(imap.UIDSetNum(2), "Junk").Wait(); err != nil {
		t.Fatal(err)
	}
	h.wantReputation(h.alice, "flagged@example.com", "1/0/spam", "MOVE into Junk of a message with $Junk")

	// Mailboxes other than Junk teach nothing; neither do removing a
	// keyword, nor $NotJunk outside Junk.
	if _, err := c.Copy(imap.SeqSetNum(1, 2), "Archive").Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Store(imap.UIDSetNum(3), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{"$NotJunk"}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Store(imap.UIDSetNum(3), &imap.StoreFlags{Op: imap.StoreFlagsDel, Flags: []imap.Flag{"$NotJunk", "$Junk"}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	h.wantReputation(h.alice, "friend@example.net", "", "COPY to Archive and STORE outside Junk")

	// UID COPY into Junk: spam; a message without From is skipped.
	if _, err := c.Copy(imap.UIDSetNum(4, 5), "Junk").Wait(); err != nil {
		t.Fatal(err)
	}
	h.wantReputation(h.alice, "copied@example.net", "1/0/spam", "UID COPY into Junk")
	all, err := h.st.Reputations(context.Background(), h.alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 4 {
		t.Fatalf("alice has %d reputations, want 4: %+v", len(all), all)
	}

	// Bob's account never saw any of it.
	if all, err := h.st.Reputations(context.Background(), h.bob.ID); err != nil || len(all) != 0 {
		t.Fatalf("bob's reputations = %+v, %v", all, err)
	}
	// Bob's own MOVE teaches his account only.
	cb, err := imapclient.DialTLS(h.tlsAddr, &imapclient.Options{TLSConfig: h.clientTLS})
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close()
	if err := cb.Login("bob@example.org", bobPass).Wait(); err != nil {
		t.Fatal(err)
	}
	selectBox(t, cb, "INBOX")
	if _, err := cb.Move(imap.SeqSetNum(1), "Junk").Wait(); err != nil {
		t.Fatal(err)
	}
	h.wantReputation(h.bob, "spammer@spam.example", "1/0/spam", "bob's MOVE into Junk")
	h.wantReputation(h.alice, "spammer@spam.example", "1/1/ham", "bob's MOVE into Junk")
}

// TestJunkTrainingOff: without a Trainer nothing is trained.
func TestJunkTrainingOff(t *testing.T) {
	h := newHarness(t)
	h.put(h.alice, "INBOX", fromMsg("spammer@spam.example", "1"))
	c := h.client(nil)
	selectBox(t, c, "INBOX")
	if _, err := c.Move(imap.SeqSetNum(1), "Junk").Wait(); err != nil {
		t.Fatal(err)
	}
	h.wantReputation(h.alice, "spammer@spam.example", "", "MOVE into Junk without a Trainer")
}

// TestJunkTrainingFailure: a Trainer that fails leaves the command
// successful, and says so in the log.
func TestJunkTrainingFailure(t *testing.T) {
	closed, err := sqlite.Open(context.Background(), t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	h := newHarness(t, func(c *Config) { c.Trainer = junk.New(closed) })
	h.put(h.alice, "INBOX", fromMsg("spammer@spam.example", "1"))
	c := h.client(nil)
	selectBox(t, c, "INBOX")
	if _, err := c.Move(imap.SeqSetNum(1), "Junk").Wait(); err != nil {
		t.Fatalf("MOVE failed with the training: %v", err)
	}
	if got := len(h.messages(h.alice, "Junk")); got != 1 {
		t.Fatalf("Junk has %d messages after MOVE", got)
	}
	if !strings.Contains(h.logs.String(), `msg="junk training failed"`) {
		t.Fatalf("training failure not logged:\n%s", h.logs.String())
	}
}

// TestJunkTrainingBound: one command trains at most maxTrain messages.
func TestJunkTrainingBound(t *testing.T) {
	h := junkHarness(t)
	h.putMany(h.alice, "INBOX", fromMsg("bulk@spam.example", "bulk"), maxTrain+5)
	c := h.client(nil)
	selectBox(t, c, "INBOX")
	all := imap.SeqSet{{Start: 1, Stop: 0}} // 1:*
	if _, err := c.Move(all, "Junk").Wait(); err != nil {
		t.Fatal(err)
	}
	if got := len(h.messages(h.alice, "Junk")); got != maxTrain+5 {
		t.Fatalf("Junk has %d messages after MOVE", got)
	}
	h.wantReputation(h.alice, "bulk@spam.example", fmt.Sprintf("%d/0/spam", maxTrain), "MOVE of more than maxTrain messages")
	if !strings.Contains(h.logs.String(), "only the first messages of the command were trained") {
		t.Fatalf("the messages left untrained were not logged:\n%s", h.logs.String())
	}
}

// putMany stores n copies of body in one transaction.
func (h *harness) putMany(acct store.Account, mailbox, body string, n int) {
	h.t.Helper()
	ds := make([]*store.Delivery, n)
	var meta store.MessageMeta
	for i := range ds {
		sp, err := h.st.NewSpool()
		if err != nil {
			h.t.Fatal(err)
		}
		io.WriteString(sp, body)
		if err := sp.Finish(); err != nil {
			h.t.Fatal(err)
		}
		if i == 0 {
			b, err := sp.Open()
			if err != nil {
				h.t.Fatal(err)
			}
			p, err := message.Parse(b, sp.Size(), message.DefaultLimits())
			if err == nil {
				meta, err = p.Meta()
			}
			if err == nil {
				meta.HeadersText, meta.BodyText, err = message.ExtractText(b, p.Root, deliver.MaxSearchText)
			}
			b.Close()
			if err != nil {
				h.t.Fatal(err)
			}
		}
		ds[i] = &store.Delivery{Spool: sp, Meta: meta, Targets: []store.Target{{
			AccountID: acct.ID, Mailbox: mailbox, InternalDate: time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC),
		}}}
	}
	if _, err := h.st.DeliverAll(context.Background(), ds); err != nil {
		h.t.Fatal(err)
	}
}
