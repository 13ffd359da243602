package imapserver

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"postel/internal/message"
	"postel/internal/store"
)

// Junk training: what the user does over IMAP teaches the junk filter
// (Config.Trainer, internal/junk) about the From senders of messages.
//
//   - Moved or copied into a \Junk mailbox (RFC 6154 §2) from another
//     mailbox: a spam mark.
//   - Moved or copied out of \Junk into any mailbox but \Trash: a ham
//     mark (throwing junk away says nothing new about it).
//   - STORE adding $Junk outside \Junk: a spam mark; adding $NotJunk in
//     \Junk: a ham mark. Both are keywords of the IANA IMAP and JMAP
//     Keywords registry (RFC 5788 §3).
//
// Clients that both flag and move a message (in either order) teach once:
// a keyword counts only where it contradicts the mailbox the message is
// in, and a move into Junk skips messages already carrying $Junk (a move
// out of it, those carrying $NotJunk).
//
// Training runs after the store call succeeded, only when a \Junk mailbox
// or those keywords are involved; a failure is logged and never fails
// the user's command. One command trains at most maxTrain messages.

// Trainer learns a sender's reputation from the user's verdict on one of
// its messages. It must be safe for concurrent use.
type Trainer interface {
	Train(ctx context.Context, accountID int64, sender string, spam bool) error
}

const (
	// maxTrain bounds the messages one command trains; the rest are not
	// trained, and that is logged.
	maxTrain = 1000
	// trainWorkers is how many marks are written at once: the store's
	// writer commits writes waiting together in one transaction.
	trainWorkers = 8
)

// The junk keywords (matched case-insensitively, RFC 9051 §2.3.2).
const (
	kwJunk    = "$junk"
	kwNotJunk = "$notjunk"
)

// trainCopy trains on messages copied or moved from the selected mailbox
// into dst, as res maps them.
func (s *session) trainCopy(dst store.Mailbox, res store.CopyResult) {
	if s.srv.cfg.Trainer == nil {
		return
	}
	v := s.sel
	fromJunk, toJunk := v.role == store.RoleJunk, dst.SpecialUse == store.RoleJunk
	var spam bool
	var already string // the keyword that taught the same already
	switch {
	case toJunk && !fromJunk:
		spam, already = true, kwJunk
	case fromJunk && !toJunk && dst.SpecialUse != store.RoleTrash:
		spam, already = false, kwNotJunk
	default:
		return
	}
	uids := make([]uint32, 0, len(res.Dest))
	for k, src := range res.Source {
		if i := v.find(src); i >= 0 && store.HasKeyword(v.msgs[i].keywords, already) {
			continue
		}
		uids = append(uids, res.Dest[k])
	}
	s.train(dst.ID, uids, spam)
}

// trainStore trains on the messages of the selected mailbox that STORE
// (adding or replacing flags) gave $Junk or $NotJunk. It runs before the
// view takes the changes, so the view still has the keywords from before.
func (s *session) trainStore(flags []string, changes []store.FlagChange) {
	if s.srv.cfg.Trainer == nil || s.sel.owner != s.user.AccountID { // not others' mail
		return
	}
	v := s.sel
	var kw string
	var spam bool
	switch {
	case v.role != store.RoleJunk && hasKeyword(flags, kwJunk):
		kw, spam = kwJunk, true
	case v.role == store.RoleJunk && hasKeyword(flags, kwNotJunk):
		kw, spam = kwNotJunk, false
	default:
		return
	}
	var uids []uint32
	for _, c := range changes {
		i := v.find(c.UID)
		if c.Conflict || i < 0 || store.HasKeyword(v.msgs[i].keywords, kw) || !store.HasKeyword(c.Flags, kw) {
			continue
		}
		uids = append(uids, c.UID)
	}
	s.train(v.id, uids, spam)
}

func hasKeyword(flags []string, kw string) bool {
	return slices.ContainsFunc(flags, func(f string) bool { return strings.EqualFold(f, kw) })
}

// train gives the From sender of each message uids of mailboxID a mark.
func (s *session) train(mailboxID int64, uids []uint32, spam bool) {
	if len(uids) == 0 {
		return
	}
	if len(uids) > maxTrain {
		s.log.Info("junk training: only the first messages of the command were trained", "messages", len(uids), "trained", maxTrain)
		uids = uids[:maxTrain]
	}
	metas, err := s.srv.st.MessageMetas(s.ctx(), s.user.AccountID, mailboxID, uids)
	if err != nil {
		s.log.Error("junk training: reading the messages failed", "err", err)
		return
	}
	senders := make([]string, 0, len(uids))
	for _, u := range uids {
		if m, ok := metas[u]; ok {
			if from := sender(m.Envelope); from != "" {
				senders = append(senders, from)
			}
		}
	}
	errs := make([]error, len(senders))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(trainWorkers, len(senders)) {
		wg.Go(func() {
			for {
				k := int(next.Add(1)) - 1
				if k >= len(senders) {
					return
				}
				errs[k] = s.trainOne(senders[k], spam)
			}
		})
	}
	wg.Wait()
	failed := 0
	var first error
	for _, err := range errs {
		if err != nil {
			if failed == 0 {
				first = err
			}
			failed++
		}
	}
	if failed > 0 {
		s.log.Error("junk training failed", "spam", spam, "failed", failed, "of", len(senders), "err", first)
	}
	s.log.Debug("junk training", "spam", spam, "messages", len(uids), "senders", len(senders)-failed)
}

// trainOne calls the Trainer, turning a panic into an error: it runs
// outside the command's own recovery.
func (s *session) trainOne(sender string, spam bool) (err error) {
	defer func() {
		if x := recover(); x != nil {
			err = fmt.Errorf("panic in Trainer: %v", x)
		}
	}()
	return s.srv.cfg.Trainer.Train(s.ctx(), s.user.AccountID, sender, spam)
}

// sender is the first address of the envelope's From that has both a
// local part and a domain, canonical; "" when there is none.
func sender(envelope []byte) string {
	env, err := message.UnmarshalEnvelope(envelope)
	if err != nil {
		return ""
	}
	for _, a := range env.From {
		if a.Host == "" || a.Mailbox == "" || a.Host == message.MissingHost || a.Mailbox == message.MissingMailbox {
			continue
		}
		if addr, err := store.CanonicalSender(a.Mailbox + "@" + a.Host); err == nil {
			return addr
		}
		return ""
	}
	return ""
}
