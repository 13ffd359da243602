package imapserver

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"postel/internal/imap"
	"postel/internal/imap/imapurl"
	"postel/internal/imap/section"
	"postel/internal/message"
	"postel/internal/store"
)

// CATENATE (RFC 4469): an APPEND (or REPLACE) message given as parts,
// TEXT literals and IMAP URLs (RFC 5092) of messages already stored, is
// assembled as its parts arrive into one spool, then committed like any
// APPEND message (append.go: deliver.Prepare, one DeliverAll).
//
// Invariants:
//   - A URL is resolved when the parser reaches it, before the next
//     literal is asked for: a bad one is refused (NO [BADURL url]) with
//     no continuation (RFC 4469), and nothing is stored.
//   - A URL names a message of the authenticated user's own mailboxes on
//     this server (its host name); it is read as FETCH BODY.PEEK would
//     read it, so no \Seen is set.
//   - The whole message stays within APPENDLIMIT (NO [TOOBIG], RFC 4469)
//     and, with every other message of the command, within the account's
//     quota (NO [OVERQUOTA]).

// catenateSink is the imap.CatenateWriter of one CATENATE message.
type catenateSink struct {
	s    *session
	w    appendSpool
	size int64 // octets so far
}

// newCatenate starts a CATENATE message (the parser's SetCatenate hook).
func (s *session) newCatenate() (imap.CatenateWriter, error) {
	w, err := s.appendSink(0, false)
	if err != nil {
		return nil, err
	}
	return &catenateSink{s: s, w: w.(appendSpool)}, nil
}

func (c *catenateSink) Write(p []byte) (int, error) { return c.w.Write(p) }

// Text accounts for a TEXT part before its octets are asked for.
func (c *catenateSink) Text(size int64, binary bool) error { return c.grow(size) }

// grow accounts for n more octets of the message.
func (c *catenateSink) grow(n int64) error {
	c.size += n
	if limit := c.s.srv.cfg.AppendLimit; c.size > limit {
		// RFC 4469: TOOBIG when the assembled message is too large.
		return &imap.ParseError{Status: "NO", Code: "TOOBIG",
			Text: fmt.Sprintf("CATENATE message of %d octets or more too large (APPENDLIMIT %d)", c.size, limit)}
	}
	c.s.appendBytes += n
	return c.s.appendFits()
}

// URL appends what an IMAP URL names.
func (c *catenateSink) URL(raw string) error {
	r, n, mr, err := c.s.openURL(raw)
	if err != nil {
		return err
	}
	defer mr.Close()
	if err := c.grow(n); err != nil {
		return err
	}
	if _, err := io.Copy(c.w, r); err != nil {
		var pe *imap.ParseError
		if errors.As(err, &pe) {
			return pe
		}
		return c.s.sinkError("reading a CATENATE URL", err)
	}
	return nil
}

// badURL refuses a CATENATE URL: NO [BADURL url] (RFC 4469, where
// url-resp-text is any TEXT-CHAR but "]").
func badURL(raw, why string) error {
	text := strings.Map(func(c rune) rune {
		if c == ']' || c < ' ' || c == 0x7f {
			return -1
		}
		return c
	}, raw)
	if text == "" {
		text = "-"
	}
	return &imap.ParseError{Status: "NO", Code: "BADURL " + text, Text: why}
}

// openURL resolves a CATENATE URL to the octets it names: a relative URL
// against the selected mailbox (RFC 5092; without one, only absolute
// URLs and paths), then the message by mailbox, UIDVALIDITY and UID, then
// the section and the partial range, as FETCH BODY.PEEK[section]<partial>
// reads them. Whatever is not there or not the user's is BADURL.
func (s *session) openURL(raw string) (io.Reader, int64, store.MessageReader, error) {
	base := imapurl.Base(s.srv.cfg.Hostname, "", 0)
	if s.sel != nil {
		base = imapurl.Base(s.srv.cfg.Hostname, s.sel.name, s.sel.uidValidity)
	}
	u, err := imapurl.Parse(raw, base)
	if err != nil {
		return nil, 0, nil, badURL(raw, "Not an IMAP message URL (RFC 5092)")
	}
	switch {
	case !strings.EqualFold(u.Host, s.srv.cfg.Hostname):
		return nil, 0, nil, badURL(raw, "URL of another server")
	case u.User != "" && !strings.EqualFold(u.User, s.user.Address):
		return nil, 0, nil, badURL(raw, "URL of another user")
	}
	// The mailbox as any command names it: the session's own, or one
	// shared with it that it may read (RFC 4314 §4: r); whatever it may
	// not read is as missing.
	ref, mb, err := s.resolve(u.Mailbox, rightRead)
	var pe *response
	switch {
	case errors.As(err, &pe):
		return nil, 0, nil, badURL(raw, "No such mailbox")
	case err != nil:
		return nil, 0, nil, s.sinkError("reading a CATENATE URL's mailbox", err)
	case ref.virtual || ref.id == 0:
		return nil, 0, nil, badURL(raw, "No such mailbox")
	}
	if u.UIDValidity != 0 && u.UIDValidity != mb.UIDValidity {
		return nil, 0, nil, badURL(raw, "UIDVALIDITY changed")
	}
	sec := &imap.Section{}
	if u.Section != "" {
		if sec, err = imap.ParseSection(u.Section); err != nil {
			return nil, 0, nil, badURL(raw, "Invalid section")
		}
	}
	metas, err := s.srv.st.MessageMetas(s.ctx(), ref.owner, mb.ID, []uint32{u.UID})
	if storeNotFound(err) {
		return nil, 0, nil, badURL(raw, "No such message")
	} else if err != nil {
		return nil, 0, nil, s.sinkError("reading a CATENATE URL's message", err)
	}
	meta, ok := metas[u.UID]
	if !ok {
		return nil, 0, nil, badURL(raw, "No such message")
	}
	root, err := message.UnmarshalStructure(meta.Structure)
	if err != nil {
		return nil, 0, nil, s.sinkError("reading a CATENATE URL's structure", err)
	}
	mr, err := s.srv.st.OpenMessage(s.ctx(), ref.owner, mb.ID, u.UID)
	if storeNotFound(err) {
		return nil, 0, nil, badURL(raw, "No such message")
	} else if err != nil {
		return nil, 0, nil, s.sinkError("opening a CATENATE URL's message", err)
	}
	r, n, err := sectionBody(mr, root, sec)
	if err == nil && r == nil {
		err = badURL(raw, "No such body part")
	}
	if err != nil {
		mr.Close()
		var pe *imap.ParseError
		if !errors.As(err, &pe) {
			err = s.sinkError("reading a CATENATE URL's section", err)
		}
		return nil, 0, nil, err
	}
	if u.HasPartial {
		// RFC 5092: ;PARTIAL=offset[.length], to the end without length.
		p := &imap.Partial{Offset: u.Offset, Count: u.Length}
		if p.Count == 0 {
			p.Count = max(n-u.Offset, 0)
		}
		r, n = section.Partial(r, n, p)
	}
	return r, n, mr, nil
}
