package pop3server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"postel/internal/store"
)

// maildrop is the INBOX as it stood at login (RFC 1939 §3: message numbers
// 1..n stay fixed for the session).
type maildrop struct {
	mailboxID   int64
	uidValidity uint32
	msgs        []dropMsg // message n is msgs[n-1], in UID order
}

// dropMsg is one message of a maildrop.
type dropMsg struct {
	uid uint32
	// size is the octets RETR sends (RFC 1939 §11: line ends counted as
	// CRLF, dot-stuffing not counted). Until the message is read it is the
	// stored size, which is exact for every message whose lines end in
	// CRLF, as SMTP delivers them (RFC 5321 §2.3.8); a message stored with
	// bare LF line ends (IMAP APPEND from a sloppy client) grows by one
	// octet per such line when sent, and its size is made exact when RETR
	// reads it. No message is read at login.
	size      int64
	deleted   bool // marked by DELE, unmarked by RSET
	retrieved bool // sent by RETR: \Seen is set at QUIT
}

// loadMaildrop reads the INBOX of an account.
func loadMaildrop(ctx context.Context, st Store, accountID int64) (*maildrop, error) {
	mb, err := st.Mailbox(ctx, accountID, "INBOX")
	if err != nil {
		return nil, err
	}
	msgs, err := st.Messages(ctx, accountID, mb.ID, 0)
	if err != nil {
		return nil, err
	}
	d := &maildrop{mailboxID: mb.ID, uidValidity: mb.UIDValidity, msgs: make([]dropMsg, len(msgs))}
	for i, m := range msgs {
		d.msgs[i] = dropMsg{uid: m.UID, size: m.Size}
	}
	return d, nil
}

// stat counts the messages not marked deleted and their octets.
func (d *maildrop) stat() (count int, size int64) {
	for _, m := range d.msgs {
		if !m.deleted {
			count++
			size += m.size
		}
	}
	return count, size
}

// uidl is a message's unique-id (RFC 1939 §7: 1 to 70 characters from
// 0x21 to 0x7E): UIDVALIDITY and UID in decimal, at most 21 characters.
func (d *maildrop) uidl(m *dropMsg) string {
	return strconv.FormatUint(uint64(d.uidValidity), 10) + "." + strconv.FormatUint(uint64(m.uid), 10)
}

// message finds the message a command argument names. RFC 1939 §5: a
// message marked deleted may not be referred to.
func (s *session) message(arg string) (int64, *dropMsg, error) {
	n, ok := parseNumber(arg)
	if !ok {
		return 0, nil, clientErr("Invalid message number")
	}
	if n < 1 || n > int64(len(s.drop.msgs)) {
		return 0, nil, refuse("No such message")
	}
	m := &s.drop.msgs[n-1]
	if m.deleted {
		return 0, nil, refuse("Message %d is deleted", n)
	}
	return n, m, nil
}

// STAT (RFC 1939 §5): the drop listing "count octets".
func (s *session) cmdStat(args string) error {
	if args != "" {
		return errSyntax
	}
	count, size := s.drop.stat()
	return s.okNil(fmt.Sprintf("%d %d", count, size))
}

// LIST (RFC 1939 §5): scan listings "n octets", of one message or of all
// those not marked deleted.
func (s *session) cmdList(args string) error {
	count, size := s.drop.stat()
	return s.listing(args, fmt.Sprintf("%d messages (%d octets)", count, size),
		func(m *dropMsg) string { return strconv.FormatInt(m.size, 10) })
}

// UIDL (RFC 1939 §7): unique-id listings "n unique-id".
func (s *session) cmdUidl(args string) error {
	return s.listing(args, "Unique-ID listing follows", s.drop.uidl)
}

// listing writes LIST's or UIDL's reply: for the message named by args, or
// for every message not marked deleted as a multi-line reply after the
// status text all.
func (s *session) listing(args, all string, value func(*dropMsg) string) error {
	f := strings.Fields(args)
	switch len(f) {
	case 0:
		s.ok(all)
		for i := range s.drop.msgs {
			if m := &s.drop.msgs[i]; !m.deleted {
				s.send(strconv.Itoa(i+1) + " " + value(m))
			}
		}
		s.send(".")
		return nil
	case 1:
		n, m, err := s.message(f[0])
		if err != nil {
			return err
		}
		return s.okNil(strconv.FormatInt(n, 10) + " " + value(m))
	}
	return errSyntax
}

// RETR (RFC 1939 §5): the whole message, as IMAP's BODY[] serves it, with
// CRLF line ends and dot-stuffed. The "+OK" line gives its exact size, which
// takes a first pass over the message.
func (s *session) cmdRetr(args string) error {
	f := strings.Fields(args)
	if len(f) != 1 {
		return errSyntax
	}
	n, m, err := s.message(f[0])
	if err != nil {
		return err
	}
	r, err := s.open(n, m)
	if err != nil {
		return err
	}
	defer r.Close()
	size, err := s.transfer(nil, r, -1)
	if err != nil {
		return fmt.Errorf("reading message %d (UID %d): %w", n, m.uid, err)
	}
	m.size = size
	s.ok(strconv.FormatInt(size, 10) + " octets")
	if _, err := s.transfer(s.bw, r, -1); err != nil {
		return abort(fmt.Errorf("sending message %d (UID %d): %w", n, m.uid, err))
	}
	m.retrieved = true
	return nil
}

// TOP (RFC 1939 §7): the header, the blank line and the first lines of the
// body.
func (s *session) cmdTop(args string) error {
	f := strings.Fields(args)
	if len(f) != 2 {
		return errSyntax
	}
	lines, ok := parseNumber(f[1])
	if !ok {
		return clientErr("Invalid number of lines")
	}
	n, m, err := s.message(f[0])
	if err != nil {
		return err
	}
	r, err := s.open(n, m)
	if err != nil {
		return err
	}
	defer r.Close()
	s.ok("Top of message follows")
	if _, err := s.transfer(s.bw, r, lines); err != nil {
		return abort(fmt.Errorf("sending the top of message %d (UID %d): %w", n, m.uid, err))
	}
	return nil
}

// open opens a message of the maildrop. One expunged meanwhile (by an IMAP
// session) gets a plain -ERR: no RFC 2449/3206 code fits, as neither the
// system nor the credentials are at fault, and the session goes on.
func (s *session) open(n int64, m *dropMsg) (store.MessageReader, error) {
	r, err := s.srv.st.OpenMessage(s.ctx(), s.acct.AccountID, s.drop.mailboxID, m.uid)
	if errors.Is(err, store.ErrNotFound) {
		return nil, refuse("Message %d was deleted by another session", n)
	}
	return r, err
}

// transfer sends (w not nil) or measures (w nil) a message as a
// multi-line reply body; bodyLines < 0 sends it all, else TOP's part.
func (s *session) transfer(w io.Writer, r store.MessageReader, bodyLines int64) (int64, error) {
	if s.buf == nil {
		s.buf = make([]byte, 32<<10)
	}
	d := newDotWriter(w, bodyLines)
	if err := d.copyFrom(io.NewSectionReader(r, 0, r.Size()), s.buf); err != nil {
		return 0, err
	}
	return d.n, nil
}

// DELE (RFC 1939 §5): marks a message; QUIT removes it.
func (s *session) cmdDele(args string) error {
	f := strings.Fields(args)
	if len(f) != 1 {
		return errSyntax
	}
	n, m, err := s.message(f[0])
	if err != nil {
		return err
	}
	m.deleted = true
	return s.okNil(fmt.Sprintf("Message %d deleted", n))
}

// NOOP (RFC 1939 §5).
func (s *session) cmdNoop(args string) error {
	if args != "" {
		return errSyntax
	}
	return s.okNil("")
}

// RSET (RFC 1939 §5): unmarks every message marked deleted.
func (s *session) cmdRset(args string) error {
	if args != "" {
		return errSyntax
	}
	for i := range s.drop.msgs {
		s.drop.msgs[i].deleted = false
	}
	count, size := s.drop.stat()
	return s.okNil(fmt.Sprintf("Maildrop has %d messages (%d octets)", count, size))
}

// QUIT (RFC 1939 §4 and §6): in the TRANSACTION state, the UPDATE state
// removes the messages marked deleted, in one store.Expunge (all or none;
// the store announces it to IMAP sessions), after setting \Seen on those
// retrieved and kept. The session ends either way.
func (s *session) cmdQuit(args string) error {
	if s.state == stateAuthorization {
		s.ok(s.srv.cfg.Hostname + " Postel POP3 server signing off")
		return errQuit
	}
	s.state = stateUpdate
	var deleted, seen []uint32
	for _, m := range s.drop.msgs {
		switch {
		case m.deleted:
			deleted = append(deleted, m.uid)
		case m.retrieved:
			seen = append(seen, m.uid)
		}
	}
	if len(seen) > 0 {
		// Best effort: a failure costs a flag, not a message.
		if _, err := s.srv.st.StoreFlags(s.ctx(), s.acct.AccountID, s.drop.mailboxID, seen, store.FlagsAdd, []string{store.FlagSeen}, 0); err != nil {
			s.log.Error("setting \\Seen on retrieved messages failed", "err", err)
		}
	}
	if len(deleted) > 0 {
		if _, err := s.srv.st.Expunge(s.ctx(), s.acct.AccountID, s.drop.mailboxID, deleted); err != nil {
			// RFC 1939 §6: "-ERR some deleted messages not removed";
			// the expunge is atomic, so none were.
			s.log.Error("expunge failed", "messages", len(deleted), "err", err)
			s.send((&reply{code: codeSysTemp, text: "Deleted messages not removed, try again later"}).line())
			return errQuit
		}
		s.log.Info("messages expunged", "messages", len(deleted))
	}
	left := len(s.drop.msgs) - len(deleted)
	s.ok(fmt.Sprintf("%s Postel POP3 server signing off (%d messages left)", s.srv.cfg.Hostname, left))
	return errQuit
}
