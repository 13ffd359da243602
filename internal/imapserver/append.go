package imapserver

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"syscall"
	"time"

	"postel/internal/deliver"
	"postel/internal/imap"
	"postel/internal/store"
)

// appendSink receives an APPEND message literal as it arrives (the
// parser's AppendSink): into a store spool, never memory. It refuses
// before the client sends the octets (no continuation) when the session
// may not APPEND or the account's quota cannot take them.
func (s *session) appendSink(size int64, binary bool) (io.Writer, error) {
	if s.state == stateNotAuth {
		return nil, &imap.ParseError{Status: "BAD", Text: badState.Text}
	}
	if c := s.r.Replacing(); c != nil {
		// A REPLACE that cannot succeed is refused before its literal.
		if _, _, err := s.replaceTarget(c.UID, c.Args.(*imap.ReplaceArgs)); err != nil {
			return nil, s.sinkRefusal("checking a REPLACE", err)
		}
	}
	s.appendBytes += size
	if err := s.appendFits(); err != nil {
		return nil, err
	}
	sp, err := s.srv.st.NewSpool()
	if err != nil {
		s.log.Error("APPEND: creating a spool", "err", err)
		return nil, &imap.ParseError{Status: "NO", Code: codeServerBug, Text: noInternal.Text}
	}
	s.spools = append(s.spools, sp)
	return appendSpool{sp}, nil
}

// appendFits refuses, as a *imap.ParseError, the octets of the command's
// messages counted so far (appendBytes) when the quota of the target
// mailbox's owner cannot take them (RFC 9208 OVERQUOTA): the session's
// own, or the owner's of a mailbox shared with it, whose quota the
// messages count against (prepareAppend).
func (s *session) appendFits() error {
	if s.r.Replacing() != nil {
		// REPLACE frees the old message's space in the same
		// transaction: the store's commit is the quota check.
		return nil
	}
	owner := s.user.AccountID
	if name := s.r.Appending(); name != "" {
		// A name that does not resolve is refused by the command itself.
		if ref, err := s.parseName(name); err == nil && !ref.virtual {
			owner = ref.owner
		}
	}
	acct, err := s.srv.st.AccountByID(s.ctx(), owner)
	if err != nil {
		return s.sinkError("reading the account", err)
	}
	if !acct.Fits(s.appendBytes) {
		return &imap.ParseError{Status: "NO", Code: codeOverQuota, Text: noOverQuota.Text}
	}
	return nil
}

// sinkError turns a server fault met while receiving a message into the
// refusal the parser sends: NO [UNAVAILABLE] when the store is down, NO
// [SERVERBUG] otherwise, logged.
func (s *session) sinkError(doing string, err error) error {
	if errors.Is(err, store.ErrUnavailable) {
		s.log.Warn("APPEND: "+doing+": store unavailable", "err", err)
		return &imap.ParseError{Status: "NO", Code: codeUnavailable, Text: noStoreDown.Text}
	}
	s.log.Error("APPEND: "+doing, "err", err)
	return &imap.ParseError{Status: "NO", Code: codeServerBug, Text: noInternal.Text}
}

// sinkRefusal turns a handler's refusal (*response) into the parser's,
// and a server fault into sinkError's.
func (s *session) sinkRefusal(doing string, err error) error {
	var r *response
	if errors.As(err, &r) {
		return &imap.ParseError{Status: r.Status, Code: r.Code, Text: r.Text}
	}
	return s.sinkError(doing, err)
}

// appendSpool is an APPEND's spool whose write failures for want of disk
// space refuse the command as a temporary failure, NO [UNAVAILABLE]
// (RFC 5530 §3), which tells the client to try again later, instead of a
// bare NO.
type appendSpool struct{ store.Spool }

func (a appendSpool) Write(p []byte) (int, error) {
	n, err := a.Spool.Write(p)
	if isDiskFull(err) {
		return n, &imap.ParseError{Status: "NO", Code: codeUnavailable, Text: noDiskFull.Text, Err: err}
	}
	return n, err
}

// isDiskFull reports whether err is the file system saying it is full
// (or the account's disk quota is).
func isDiskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// discardSpools drops the APPEND spools of the last command; the ones
// delivered are in the store already.
func (s *session) discardSpools() {
	for _, sp := range s.spools {
		sp.Discard()
	}
	s.spools, s.appendBytes = nil, 0
}

// APPEND (RFC 9051 §6.3.12) with MULTIAPPEND (RFC 3502: all messages or
// none), UIDPLUS APPENDUID (RFC 4315 §3) and BINARY literal8 (RFC 3516
// §4.4). Each message is parsed once, here, for its envelope, structure
// and searchable text; the store commits all of them in one transaction.
func (s *session) cmdAppend(cmd *imap.Command) error {
	a := cmd.Args.(*imap.AppendArgs)
	ref, _, err := s.resolve(a.Mailbox, rightInsert) // RFC 4314 §4: i
	if err == noNoMailbox {
		return noTryCreate // RFC 9051 §6.3.12
	} else if err != nil {
		return err
	}
	ds := make([]*store.Delivery, len(a.Messages))
	for i := range a.Messages {
		d, err := s.prepareAppend(&a.Messages[i], ref)
		if err != nil {
			return err
		}
		ds[i] = d
	}
	res, err := s.srv.st.DeliverAll(s.ctx(), ds)
	switch {
	case errors.Is(err, store.ErrQuota):
		return noOverQuota
	case storeNotFound(err):
		return noTryCreate // deleted meanwhile
	case err != nil:
		return err
	}
	uids := make([]uint32, len(res))
	for i, r := range res {
		uids[i] = r[0].UID
	}
	return okCode(fmt.Sprintf("APPENDUID %d %s", res[0][0].UIDValidity, imap.SeqSetFromNums(uids)), "APPEND completed")
}

// prepareAppend parses one received message into its delivery to the
// mailbox of dst, with the flags the session's rights there allow (RFC
// 4314 §4); it counts against the quota of the mailbox's owner.
func (s *session) prepareAppend(m *imap.AppendMessage, dst mailboxRef) (*store.Delivery, error) {
	var sp store.Spool
	switch w := m.Sink.(type) {
	case appendSpool:
		sp = w.Spool
	case *catenateSink: // RFC 4469: assembled in a spool like any message
		sp = w.w.Spool
	default:
		return nil, errors.New("APPEND message without its spool")
	}
	// RFC 9051 §2.3.2: \Recent cannot be set by the client; RFC 3501
	// allowed it in APPEND, where it is ignored.
	flags := slices.DeleteFunc(slices.Clone(m.Flags), func(f string) bool { return strings.EqualFold(f, `\Recent`) })
	if _, _, err := store.SplitFlags(flags); err != nil {
		return nil, flagsError(err)
	}
	if err := sp.Finish(); err != nil {
		return nil, err
	}
	date := m.Date
	if date.IsZero() {
		date = time.Now()
	}
	return deliver.Prepare(sp, nil, []store.Target{{
		AccountID: dst.owner, Mailbox: dst.local, Flags: filterFlags(flags, dst.rights), InternalDate: date,
	}})
}
